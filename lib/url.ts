/**
 * Host names in URLs, one rule for the whole project: an IPv6 literal is bracketed where it goes
 * into a URL or a `host:port` pair, and unbracketed where a URL's hostname is compared or looked up.
 * @module
 */
import { isIPv6 } from 'node:net';

/** `host` as it goes into a URL or a `host:port` pair: IPv6 literals bracketed (`[::1]`). */
export function urlHost(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}

/** A URL's `hostname` without the brackets WHATWG URL keeps around an IPv6 literal. */
export function bareHost(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '');
}

/**
 * The host a client on this machine uses to reach a server listening on `listen`, ready for a
 * URL: the IPv4/IPv6 wildcards become their loopback address.
 */
export function connectHost(listen: string): string {
  return listen === '0.0.0.0' ? '127.0.0.1' : listen === '::' ? '[::1]' : urlHost(listen);
}
