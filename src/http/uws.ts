// The only importer of uWebSockets.js: loads the native build (refusing the silent JS fallback) and listens.
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

export type HttpResponse = UWS.HttpResponse;
export type HttpRequest = UWS.HttpRequest;
export type TemplatedApp = UWS.TemplatedApp;
export type ListenSocket = UWS.us_listen_socket;

const require = createRequire(import.meta.url);

export interface UwsRuntime {
  readonly uws: typeof UWS;
  /** True when the native binary is in use (the package silently falls back to a slow JS server otherwise). */
  readonly native: boolean;
  readonly nativeError: string | null;
}

let runtime: UwsRuntime | null = null;

/**
 * Loads uWebSockets.js. With `requireNative`, a missing native build is an error (no silent fallback).
 * The unofficial package ships binaries under binaries/, an official release at its root: both are tried.
 */
export function loadUws(requireNative: boolean): UwsRuntime {
  if (runtime) {
    if (requireNative && !runtime.native) throw new Error(`uWebSockets.js native build not loaded: ${runtime.nativeError}`);
    return runtime;
  }
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  let nativeError: string | null = null;
  let native = false;
  for (const path of [`uWebSockets.js/binaries/${name}`, `uWebSockets.js/${name}`]) {
    try {
      require(path);
      native = true;
      break;
    } catch (e) {
      nativeError ??= e instanceof Error ? e.message.split('\n')[0] ?? String(e) : String(e);
    }
  }
  if (!native && requireNative) {
    throw new Error(
      `uWebSockets.js native build ${name} could not be loaded (${nativeError}); refusing the slow JS fallback. ` +
        'Use Node 20 on glibc >= 2.31 (x64/arm64), or set REQUIRE_NATIVE_UWS=false to run degraded.',
    );
  }
  runtime = { uws: require('uWebSockets.js') as typeof UWS, native, nativeError: native ? null : nativeError };
  return runtime;
}

export function createApp(rt: UwsRuntime): TemplatedApp {
  return rt.uws.App();
}

/** uWS ListenOptions.LIBUS_LISTEN_EXCLUSIVE_PORT. */
const EXCLUSIVE_PORT = 1;
type ListenWithOptions = (host: string, port: number, options: number, cb: (s: ListenSocket | false) => void) => void;

/**
 * Listens on host:port (port 0 picks a free one); resolves with the socket and the real port.
 * The port is exclusive: uWS's default SO_REUSEPORT would let a second process on the same port start
 * silently and share the traffic.
 */
export function listen(rt: UwsRuntime, app: TemplatedApp, host: string, port: number): Promise<{ socket: ListenSocket; port: number }> {
  return new Promise((resolve, reject) => {
    const withOptions = app.listen.bind(app) as unknown as ListenWithOptions;
    withOptions(host, port, EXCLUSIVE_PORT, (socket) => {
      if (!socket) reject(new Error(`cannot listen on ${host}:${port} (in use, or not an address of this host)`));
      else resolve({ socket, port: rt.uws.us_socket_local_port(socket) });
    });
  });
}

export function closeListen(rt: UwsRuntime, socket: ListenSocket): void {
  rt.uws.us_listen_socket_close(socket);
}
