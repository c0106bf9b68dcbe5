// The only importer of uWebSockets.js: loads the native build (with a start-up error that says what is needed) and listens.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as UWS from 'uWebSockets.js';

export type HttpResponse = UWS.HttpResponse;
export type HttpRequest = UWS.HttpRequest;
export type TemplatedApp = UWS.TemplatedApp;
export type ListenSocket = UWS.us_listen_socket;

const require = createRequire(import.meta.url);

/** What the installed build (`@based/uws@6.0.1`, uWS v20.51.0) runs on; the start-up error repeats it. */
export const UWS_REQUIREMENTS =
  'Node 20 or 22 on Linux x64/arm64 with glibc >= 2.27 (Debian 10+, Ubuntu 18.04+; not Alpine/musl); ' +
  'its Node 24 builds need glibc >= 2.38 and are not supported here';

export interface UwsRuntime {
  readonly uws: typeof UWS;
  /** True when the native binary is in use. This build has no JS fallback, so a loaded runtime is always native. */
  readonly native: boolean;
  readonly nativeError: string | null;
}

let runtime: UwsRuntime | null = null;

/**
 * Loads uWebSockets.js. The package (`@based/uws`) has no JS fallback and no subpath exports: its entry point
 * requires `uws_<platform>_<arch>_<abi>.node` from its own folder and throws when that fails. The binary's
 * presence is checked first so the error can tell "no build for this Node" from "the build does not load here"
 * (typically glibc too old, or musl). With or without `requireNative` a failure throws: there is nothing slower
 * to fall back to (REQUIRE_NATIVE_UWS=false only changes the wording).
 */
export function loadUws(requireNative = true): UwsRuntime {
  if (runtime) return runtime;
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  let entry: string;
  try {
    entry = require.resolve('uWebSockets.js');
  } catch (e) {
    throw new Error(`uWebSockets.js is not installed (${firstLine(e)}): run npm ci`);
  }
  const noFallback = requireNative ? '' : ' (REQUIRE_NATIVE_UWS=false cannot help: this build has no JS fallback)';
  if (!existsSync(join(dirname(entry), name))) {
    throw new Error(`uWebSockets.js has no native build ${name} for ${thisNode()}. It needs ${UWS_REQUIREMENTS}.${noFallback}`);
  }
  let uws: typeof UWS;
  try {
    uws = require('uWebSockets.js') as typeof UWS;
  } catch (e) {
    throw new Error(`uWebSockets.js native build ${name} does not load on ${thisNode()}: ${nativeCause(e)}. It needs ${UWS_REQUIREMENTS}.${noFallback}`);
  }
  runtime = { uws, native: true, nativeError: null };
  return runtime;
}

function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0] ?? text;
}

/** The package wraps the dlopen error after its own text: keep the last non-empty line (e.g. "GLIBC_2.38 not found"). */
function nativeCause(e: unknown): string {
  const lines = (e instanceof Error ? e.message : String(e)).split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  return lines[lines.length - 1] ?? 'unknown error';
}

/** "Node 24.1.0 (ABI 137, linux-x64, glibc 2.36)": only built for an error message (the report costs a few ms). */
function thisNode(): string {
  let libc = '';
  if (process.platform === 'linux') {
    const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
    libc = `, glibc ${report.header?.glibcVersionRuntime ?? 'not found (musl?)'}`;
  }
  return `Node ${process.versions.node} (ABI ${process.versions.modules}, ${process.platform}-${process.arch}${libc})`;
}

export function createApp(rt: UwsRuntime): TemplatedApp {
  return rt.uws.App();
}

/** uWS ListenOptions.LIBUS_LISTEN_EXCLUSIVE_PORT. */
const EXCLUSIVE_PORT = 1;

/**
 * Listen sockets per port. uWS gives each a fixed backlog of 512 handshakes waiting for accept(); a burst
 * beyond that while the loop is busy is dropped by the kernel, and those clients retry after 1 s, 3 s, 7 s
 * (8000 clients at once: ~2400 ListenOverflows, nginx none). With SO_REUSEPORT the kernel spreads new
 * connections over all of them: 16 × 512 = 8192 (with 8 sockets the same burst still overflowed ~250 times,
 * with 16 about 20).
 */
export const LISTEN_SOCKETS = 16;

type ListenWithOptions = (host: string, port: number, options: number, cb: (s: ListenSocket | false) => void) => void;

export interface Listener {
  readonly port: number;
  /** Stops accepting (connections already open stay). */
  close(): void;
}

function listenOne(app: TemplatedApp, host: string, port: number, options: number): Promise<ListenSocket | null> {
  return new Promise((resolve) => {
    (app.listen.bind(app) as unknown as ListenWithOptions)(host, port, options, (socket) => resolve(socket || null));
  });
}

/**
 * Listens on host:port (port 0 picks a free one). The port must be free: an exclusive listen first proves
 * nothing else holds it (uWS's default SO_REUSEPORT would let a second process start silently and share the
 * traffic); then LISTEN_SOCKETS shared sockets take its place on that port. A later process, ours or not, that
 * listens without SO_REUSEPORT (as this one first does) is refused.
 */
export async function listen(rt: UwsRuntime, app: TemplatedApp, host: string, port: number): Promise<Listener> {
  const probe = await listenOne(app, host, port, EXCLUSIVE_PORT);
  if (probe === null) throw new Error(`cannot listen on ${host}:${port} (in use, or not an address of this host)`);
  const real = rt.uws.us_socket_local_port(probe);
  rt.uws.us_listen_socket_close(probe);
  const sockets: ListenSocket[] = [];
  const close = (): void => {
    for (const s of sockets.splice(0)) rt.uws.us_listen_socket_close(s);
  };
  for (let i = 0; i < LISTEN_SOCKETS; i++) {
    const s = await listenOne(app, host, real, 0);
    if (s === null) {
      close();
      throw new Error(`cannot listen on ${host}:${real} (taken between the check and the listen)`);
    }
    sockets.push(s);
  }
  return { port: real, close };
}
