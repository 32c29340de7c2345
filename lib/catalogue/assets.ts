/**
 * The catalogue's stylesheet and script, inlined in every page: one file per page, nothing
 * else to fetch (works offline, from any static host or a saved copy), allowed by a
 * Content-Security-Policy that names their hashes and nothing external.
 * @module
 */
import { createHash } from 'node:crypto';

/** Light and dark schemes (prefers-color-scheme), fluid down to a 360 px wide phone. */
export const CSS = `
:root{color-scheme:light dark;--bg:#f5f6f8;--card:#fff;--fg:#1b1f24;--muted:#5a6472;--line:#dde1e7;
--accent:#0a5ccc;--accent-bg:#e8f0fc;--code:#f0f2f5;--ok:#176c3a;--warn:#8a5300;
font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Liberation Sans",sans-serif}
@media (prefers-color-scheme:dark){:root{--bg:#0e1217;--card:#161c23;--fg:#e4e8ee;--muted:#9aa5b4;
--line:#2a333e;--accent:#6cb0ff;--accent-bg:#15263b;--code:#0b0f14;--ok:#6fd39a;--warn:#f0b35a}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg)}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,summary:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.top{background:var(--card);border-bottom:1px solid var(--line)}
.top .wrap{display:flex;align-items:center;gap:.6rem;padding-top:.7rem;padding-bottom:.7rem}
.brand{font-weight:700;color:var(--fg);text-decoration:none;display:flex;align-items:center;gap:.5rem}
.brand svg{flex:none}
.wrap{max-width:1080px;margin:0 auto;padding:0 1rem}
main{padding:1.5rem 0 2.5rem}
h1{font-size:1.9rem;line-height:1.2;margin:.2rem 0 .4rem}
h2{font-size:1.35rem;margin:2rem 0 .6rem}
h3{font-size:1.1rem;margin:1.4rem 0 .4rem}
h4,h5,h6{font-size:1rem;margin:1.2rem 0 .3rem}
p{margin:.5rem 0}
.lead{color:var(--muted);font-size:1.1rem;margin:0 0 1rem}
.muted{color:var(--muted)}
code,pre,kbd{font-family:ui-monospace,"SFMono-Regular","DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.875em}
code{background:var(--code);border-radius:4px;padding:.05em .3em;overflow-wrap:break-word}
pre{background:var(--code);border:1px solid var(--line);border-radius:8px;padding:.75rem .9rem;overflow-x:auto;line-height:1.45;margin:.5rem 0;white-space:pre-wrap;overflow-wrap:anywhere}
pre code{background:none;padding:0;overflow-wrap:anywhere}
.code{position:relative}
.code pre{padding-right:4.6rem}
.copy{position:absolute;top:.4rem;right:.4rem;font:inherit;font-size:.8rem;padding:.2rem .6rem;border-radius:6px;
border:1px solid var(--line);background:var(--card);color:var(--fg);cursor:pointer}
.copy:hover{border-color:var(--accent);color:var(--accent)}
.badge{display:inline-block;font-size:.78rem;font-weight:600;padding:.1rem .5rem;border-radius:999px;background:var(--accent-bg);color:var(--accent);white-space:nowrap}
.badges{display:flex;flex-wrap:wrap;gap:.35rem;margin:.4rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,340px),1fr));gap:1rem;padding:0;margin:1rem 0;list-style:none}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1rem 1.1rem;display:flex;flex-direction:column;gap:.4rem;min-width:0}
.card h2{margin:0;font-size:1.25rem;display:flex;align-items:baseline;justify-content:space-between;gap:.5rem}
.card h2 a{text-decoration:none}
.card h2 a:hover{text-decoration:underline}
.card p{margin:0}
.card .code{margin-top:auto;display:flex;gap:.4rem;align-items:center}
.card .code pre{flex:1;min-width:0;margin:0;padding-right:.9rem}
.card .copy{position:static}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .8rem;margin:.3rem 0;font-size:.92rem}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;min-width:0}
.panel{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1rem 1.1rem;margin:1rem 0}
.panel>h2:first-child{margin-top:0}
.table{overflow-x:auto;margin:.5rem 0;border:1px solid var(--line);border-radius:10px;background:var(--card)}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;vertical-align:top;padding:.5rem .7rem;border-bottom:1px solid var(--line)}
tr:last-child td{border-bottom:0}
th{font-weight:600;background:var(--code)}
.readme table{display:block;overflow-x:auto;border:1px solid var(--line);border-radius:10px}
ol.steps{padding-left:1.3rem}
ol.steps>li{margin:0 0 1rem}
ol.steps>li::marker{font-weight:700;color:var(--accent)}
.note{font-size:.92rem;color:var(--muted)}
.filter{margin:1rem 0 0}
.filter input{font:inherit;width:min(100%,420px);padding:.5rem .7rem;border-radius:8px;border:1px solid var(--line);background:var(--card);color:var(--fg)}
.filter label{display:block;font-weight:600;margin-bottom:.25rem}
details.fp summary{cursor:pointer;list-style-position:inside}
.panel details summary{cursor:pointer;color:var(--muted);font-size:.92rem}
details.fp>code{display:block;margin-top:.3rem;max-width:32ch;overflow-wrap:anywhere}
.secret{color:var(--warn);font-weight:600}
.crumbs{font-size:.92rem;margin:0 0 .5rem}
footer{border-top:1px solid var(--line);color:var(--muted);font-size:.88rem;padding:1rem 0 2rem}
[hidden]{display:none!important}
@media (max-width:520px){h1{font-size:1.55rem}.wrap{padding:0 .75rem}.card,.panel{padding:.85rem}}
`.trim();

/**
 * Progressive enhancements; the pages read fine without them:
 * - registry URL, host and port in the commands from the address the page was loaded from;
 * - a copy button on every code block (Clipboard API, or a selection + execCommand fallback);
 * - the filter box of the index.
 */
export const JS = `
(()=>{
const d=document,root=d.documentElement.dataset.root||'.';
if(/^https?:$/.test(location.protocol)){
const u=new URL(root+'/',location.href),base=(u.origin+u.pathname).replace(/\\/$/,'');
const port=u.port||(u.protocol==='https:'?'443':'80');
d.querySelectorAll('[data-url]').forEach(e=>{e.textContent=base});
d.querySelectorAll('[data-host]').forEach(e=>{e.textContent=u.hostname});
d.querySelectorAll('[data-hostport]').forEach(e=>{e.textContent=u.hostname+':'+port});
}
async function copy(text){
try{await navigator.clipboard.writeText(text);return true}catch(e){
const t=d.createElement('textarea');t.value=text;t.setAttribute('readonly','');t.style.position='fixed';t.style.opacity='0';
d.body.append(t);t.select();let ok=false;try{ok=d.execCommand('copy')}catch(e){}t.remove();return ok}}
d.querySelectorAll('pre').forEach(pre=>{
let w=pre.parentElement;
if(!w.classList.contains('code')){w=d.createElement('div');w.className='code';pre.replaceWith(w);w.append(pre)}
const b=d.createElement('button');b.type='button';b.className='copy';b.textContent='Copy';
b.setAttribute('aria-label','Copy to the clipboard');
b.addEventListener('click',async()=>{const ok=await copy(pre.textContent.replace(/\\n$/,''));
b.textContent=ok?'Copied':'Select and copy';setTimeout(()=>{b.textContent='Copy'},1600)});
w.append(b)});
const f=d.getElementById('filter');
if(f){const box=f.closest('.filter'),cards=[...d.querySelectorAll('[data-search]')],none=d.getElementById('none');
box.hidden=false;
f.addEventListener('input',()=>{const q=f.value.trim().toLowerCase();let n=0;
cards.forEach(c=>{const hit=!q||c.dataset.search.includes(q);c.hidden=!hit;if(hit)n++});none.hidden=n>0})}
})();
`.trim();

const sha = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;

/** The pages' Content-Security-Policy: their own inline style and script, same-origin links, nothing else. */
export const CSP = `default-src 'none'; style-src ${sha(CSS)}; script-src ${sha(JS)}; img-src data:; base-uri 'none'; form-action 'none'`;

/** The site icon, inline (no favicon.ico request, so no 404 in the console). */
export const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#0a5ccc"/><path d="M8 11l8-4 8 4v10l-8 4-8-4z" fill="none" stroke="#fff" stroke-width="2.2" stroke-linejoin="round"/><path d="M8 11l8 4 8-4M16 15v10" fill="none" stroke="#fff" stroke-width="2.2" stroke-linejoin="round"/></svg>`;

/** The icon as a data: URL for `<link rel="icon">`. */
export const ICON_URL = `data:image/svg+xml,${encodeURIComponent(ICON_SVG)}`;
