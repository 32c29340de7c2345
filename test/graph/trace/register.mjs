// `node --import ./register.mjs --import tsx app.ts`: traces every module the app loads.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
