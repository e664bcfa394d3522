/**
 * The `Request` handlers receive: a real `Request` by prototype (`instanceof Request`
 * holds), built lazily from the kernel's record. Constructing a full `Request` costs about
 * 18 µs in Deno 2.9 — three times the whole budget of a hello-world request — so headers,
 * body stream and the rare fields are made only when read.
 *
 * A buffered body stays in kernel memory until the response is complete, and no view of
 * that memory is ever made: the server copies it out on demand (`BodySource.copyTo`) and
 * refuses once the request is over. `text()` and `json()` copy it into one shared scratch
 * buffer and decode it there before anything else runs; `arrayBuffer()`, `bytes()`,
 * `blob()`, `formData()`, `clone()` and `req.body` hand out one copy — bytes a handler keeps
 * are its own, and may be mutated or `transfer()`ed freely.
 *
 * @module
 */

import type { RequestRecord } from "./records.ts";

/**
 * Where a request's body comes from. The server keeps it up to date as the request goes
 * on: a buffered body whose client left is copied out (it fully arrived, so it stays
 * readable), and once the response is sent the source is `closed`.
 */
export interface BodySource {
  /** Bytes of a buffered body (read with `copyTo`), or -1 for a streamed one (`read`). */
  readonly size: number;
  /** Copies a buffered body into `into`, which is `size` bytes long. */
  copyTo(into: Uint8Array): void;
  /** Reads the next chunk of a streamed body; `null` at the end. */
  read(): Promise<Uint8Array<ArrayBuffer> | null>;
  /** Set once the response went out: the body can no longer be read, as under Deno. */
  readonly closed: boolean;
}

function closedError(): TypeError {
  return new TypeError("Request closed");
}

const utf8 = new TextDecoder();

// Deno keeps a `Headers`' entries in an internal list. The kernel has validated every name
// (a lower-case token) and value (a ByteString without CR, LF or NUL) already — as Deno's
// own server has before it hands its `Request` a header list — so the list is handed over
// as it is rather than re-validated pair by pair through `append`. Found by name and
// probed once at load; a Deno whose internals differ gets `append`.
const HEADER_LIST = (() => {
  const probe = new Headers();
  const symbols = Object.getOwnPropertySymbols(probe);
  for (let i = 0; i < symbols.length; i++) {
    if (symbols[i].description !== "header list") continue;
    const list = symbols[i];
    const internal = probe as unknown as Record<symbol, unknown>;
    internal[list] = [["x-a", "1"], ["set-cookie", "a"], ["x-a", "2"], [
      "set-cookie",
      "b",
    ]];
    probe.append("x-b", "3");
    let entries = 0;
    probe.forEach(() => entries++);
    const works = probe.get("x-a") === "1, 2" && probe.get("X-B") === "3" &&
      probe.getSetCookie().length === 2 && entries === 4;
    return works ? list : undefined;
  }
  return undefined;
})();

/** SP or HTAB: a value with one at either end is not as `Headers` would store it. */
function padded(value: string): boolean {
  if (value.length === 0) return false;
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  return first === 32 || first === 9 || last === 32 || last === 9;
}

/** `Headers` holding the kernel's validated `[name0, value0, ...]`. */
function headersOf(pairs: string[]): Headers {
  const headers = new Headers();
  if (HEADER_LIST !== undefined) {
    const list = new Array<[string, string]>(pairs.length >> 1);
    let ok = true;
    for (let i = 0; i < list.length && ok; i++) {
      const value = pairs[2 * i + 1];
      ok = !padded(value);
      list[i] = [pairs[2 * i], value];
    }
    if (ok) {
      (headers as unknown as Record<symbol, unknown>)[HEADER_LIST] = list;
      return headers;
    }
  }
  for (let i = 0; i < pairs.length; i += 2) {
    headers.append(pairs[i], pairs[i + 1]);
  }
  return headers;
}

/**
 * A lazily built `Request`. Everything a handler can observe behaves as for the `Request`
 * `Deno.serve` passes; members not implemented here are served by a real `Request` made
 * on first use (`clone()`, `formData()`, `cache`, `mode`, and Deno's internal fields, so
 * `new Request(req)` and `fetch(req)` work too).
 */
export class KernelRequest {
  #record: RequestRecord;
  #source: BodySource | null;
  #owner: { readonly signal: AbortSignal };
  #headers: Headers | undefined;
  /** The record's header list, read once. */
  #pairs: string[] | undefined;
  #stream: ReadableStream<Uint8Array<ArrayBuffer>> | null | undefined;
  #used = false;
  #real: Request | undefined;

  /**
   * Wraps a request record; `owner.signal` is read when the signal is first needed (the
   * request context's own, so no object is made per request for it).
   */
  constructor(
    record: RequestRecord,
    source: BodySource | null,
    owner: { readonly signal: AbortSignal },
  ) {
    this.#record = record;
    this.#source = source;
    this.#owner = owner;
  }

  /** The request method. */
  get method(): string {
    return this.#record.method;
  }

  /** The absolute request URL. */
  get url(): string {
    return this.#record.url;
  }

  /** The request headers. */
  get headers(): Headers {
    return this.#headers ??= headersOf(this.#pairs ??= this.#record.headers);
  }

  /**
   * `await req.text()` when the kernel buffered the whole body and nothing read it yet,
   * without a promise (the body is then used, as after `text()`); `undefined` (and the
   * body left as it was) otherwise.
   */
  static bufferedText(req: KernelRequest): string | undefined {
    if (req.#real !== undefined || req.#used || req.#stream !== undefined) {
      return undefined;
    }
    const source = req.#source;
    if (source === null) {
      req.#used = true;
      return "";
    }
    if (source.closed || source.size < 0) return undefined;
    req.#used = true;
    return decodeText(copyOut(source, true));
  }

  /**
   * `req.headers.get(name)` for a lower-case `name`, without building `Headers` when they
   * were not built yet (the app reads a body's type and length so).
   */
  static header(req: KernelRequest, name: string): string | null {
    if (req.#headers !== undefined) return req.#headers.get(name);
    const pairs = req.#pairs ??= req.#record.headers;
    let found: string | null = null;
    for (let i = 0; i < pairs.length; i += 2) {
      if (pairs[i] !== name) continue;
      const value = pairs[i + 1];
      // A value `Headers` would trim, or a repeated name: as `Headers` answers.
      if (found !== null || padded(value)) return req.headers.get(name);
      found = value;
    }
    return found;
  }

  /** Fires when the client disconnects or the deadline passes. */
  get signal(): AbortSignal {
    return this.#owner.signal;
  }

  /** The body as a stream, or `null` when there is none. */
  get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    if (this.#real) {
      return this.#real.body as ReadableStream<Uint8Array<ArrayBuffer>>;
    }
    if (this.#stream === undefined) this.#stream = this.#makeStream();
    return this.#stream;
  }

  /** Whether the body has been read from (by a method, or through `body`). */
  get bodyUsed(): boolean {
    if (this.#real) return this.#real.bodyUsed;
    return this.#used;
  }

  /** The body, copied out of kernel memory (the caller owns it). */
  arrayBuffer(): Promise<ArrayBuffer> {
    if (this.#real) return this.#real.arrayBuffer();
    return this.#consume(ownBuffer, false);
  }

  /** The body as bytes, copied out of kernel memory (the caller owns them). */
  bytes(): Promise<Uint8Array<ArrayBuffer>> {
    if (this.#real) return this.#real.bytes();
    return this.#consume(ownBytes, false);
  }

  /** The body decoded as UTF-8 (copied out of kernel memory into a reused buffer). */
  text(): Promise<string> {
    if (this.#real) return this.#real.text();
    return this.#consume(decodeText, true);
  }

  /** The body parsed as JSON (copied out of kernel memory into a reused buffer). */
  json(): Promise<unknown> {
    if (this.#real) return this.#real.json();
    return this.#consume(parseJson, true);
  }

  /** The body as a `Blob` typed with the request's content type. */
  blob(): Promise<Blob> {
    if (this.#real) return this.#real.blob();
    const type = this.headers.get("content-type") ?? "";
    // A Blob copies its parts, so the scratch buffer does not escape.
    return this.#consume((bytes) => new Blob([bytes], { type }), true);
  }

  /** The body parsed as form data. */
  formData(): Promise<FormData> {
    return this.#materialize().formData();
  }

  /** A copy of this request (its body is buffered to be read twice). */
  clone(): Request {
    if (this.bodyUsed || (this.#stream?.locked ?? false)) {
      throw new TypeError("Body is unusable");
    }
    return this.#materialize().clone();
  }

  get cache(): RequestCache {
    return this.#materialize().cache;
  }
  get credentials(): RequestCredentials {
    return this.#materialize().credentials;
  }
  get destination(): RequestDestination {
    return this.#materialize().destination;
  }
  get integrity(): string {
    return this.#materialize().integrity;
  }
  get keepalive(): boolean {
    return this.#materialize().keepalive;
  }
  get mode(): RequestMode {
    return this.#materialize().mode;
  }
  get redirect(): RequestRedirect {
    return this.#materialize().redirect;
  }
  get referrer(): string {
    return this.#materialize().referrer;
  }
  get referrerPolicy(): ReferrerPolicy {
    return this.#materialize().referrerPolicy;
  }

  /** Shown by `console.log` like a `Request`. */
  [Symbol.for("Deno.customInspect")](
    inspect: (value: unknown, options?: unknown) => string,
    options: unknown,
  ): string {
    const { method, url } = this.#record;
    return `Request ${
      inspect(
        { method, url, headers: this.headers, bodyUsed: this.bodyUsed },
        options,
      )
    }`;
  }

  static {
    // Deno's own code (`new Request(req)`, `fetch(req)`) reads a Request's internal
    // symbols; forward each to the real `Request` this one stands for.
    const probe = new Request("http://localhost/");
    const symbols = Object.getOwnPropertySymbols(probe);
    for (let i = 0; i < symbols.length; i++) {
      const symbol = symbols[i];
      Object.defineProperty(KernelRequest.prototype, symbol, {
        get(this: KernelRequest) {
          return (this.#materialize() as unknown as Record<symbol, unknown>)[
            symbol
          ];
        },
      });
    }
  }

  #makeStream(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    const source = this.#source;
    if (source === null) return null;
    const method = this.#record.method;
    if (method === "GET" || method === "HEAD") return null;
    if (source.size >= 0) {
      return new ReadableStream({
        type: "bytes",
        // Filled on the first read (not at creation), so the body counts as used only once
        // it is read, and the read sees the source as it is then.
        pull: (controller) => {
          this.#used = true;
          if (source.closed) throw closedError();
          // A copy of its own: byte streams transfer what they are given.
          if (source.size > 0) controller.enqueue(copyOut(source, false));
          controller.close();
        },
      });
    }
    return new ReadableStream({
      type: "bytes",
      pull: async (controller) => {
        this.#used = true;
        if (source.closed) throw closedError();
        const chunk = await source.read();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
    });
  }

  /**
   * Reads the whole body and hands it to `use`, as bytes of its own. With `borrow`, a
   * buffered body comes in the shared scratch buffer instead, which the next body read
   * overwrites: `use` then decodes or copies it synchronously and never lets it (or its
   * `buffer`) escape to user code.
   */
  #consume<T>(
    use: (bytes: Uint8Array<ArrayBuffer>) => T,
    borrow: boolean,
  ): Promise<T> {
    try {
      if (this.bodyUsed || (this.#stream?.locked ?? false)) {
        throw new TypeError("Body already consumed");
      }
      this.#used = true;
      const source = this.#source;
      if (source === null) {
        return Promise.resolve(use(new Uint8Array(0)));
      }
      if (source.closed) throw closedError();
      if (source.size >= 0 && this.#stream === undefined) {
        return Promise.resolve(use(copyOut(source, borrow)));
      }
      const stream = this.body;
      if (stream === null) {
        return Promise.resolve(use(new Uint8Array(0)));
      }
      return collect(stream).then(use);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #materialize(): Request {
    if (this.#real === undefined) {
      const { method, url } = this.#record;
      this.#real = new Request(url, {
        method,
        headers: this.headers,
        body: this.bodyUsed ? null : this.body,
        signal: this.signal,
      });
    }
    return this.#real;
  }
}

Object.setPrototypeOf(KernelRequest.prototype, Request.prototype);

/** Bodies up to this size are read into the shared scratch buffer to be decoded. */
const SCRATCH_MAX = 64 * 1024;
let scratch = new Uint8Array(4096);
let scratchView = scratch.subarray(0, 0);

/**
 * A buffered body's bytes: with `borrow` (and when small enough) in the shared scratch
 * buffer, valid until the next call; otherwise in a new array of their own.
 */
function copyOut(
  source: BodySource,
  borrow: boolean,
): Uint8Array<ArrayBuffer> {
  const size = source.size;
  if (!borrow || size > SCRATCH_MAX) {
    const own = new Uint8Array(size);
    source.copyTo(own);
    return own;
  }
  if (scratch.length < size) scratch = new Uint8Array(SCRATCH_MAX);
  // Bodies of one endpoint tend to have one size: the last view of the scratch is reused.
  if (scratchView.length !== size || scratchView.buffer !== scratch.buffer) {
    scratchView = scratch.subarray(0, size);
  }
  source.copyTo(scratchView);
  return scratchView;
}

// What the body methods do with the bytes: module functions, not a closure per call.
const ownBytes = (bytes: Uint8Array<ArrayBuffer>) => bytes;
const ownBuffer = (bytes: Uint8Array<ArrayBuffer>) => bytes.buffer;
const decodeText = (bytes: Uint8Array<ArrayBuffer>) => utf8.decode(bytes);
const parseJson = (bytes: Uint8Array<ArrayBuffer>): unknown =>
  JSON.parse(utf8.decode(bytes));

async function collect(
  stream: ReadableStream<Uint8Array<ArrayBuffer>>,
): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    total += chunk.length;
  }
  // A lone chunk is returned as is only when it spans its buffer: a chunk cut from a larger
  // read buffer would hand `arrayBuffer()` and `bytes().buffer` bytes past the body.
  if (
    chunks.length === 1 && chunks[0].byteLength === chunks[0].buffer.byteLength
  ) {
    return chunks[0] as Uint8Array<ArrayBuffer>;
  }
  const out = new Uint8Array(total);
  let at = 0;
  // Index loops, not `for…of`: user code may have replaced the array iterator.
  for (let i = 0; i < chunks.length; i++) {
    out.set(chunks[i], at);
    at += chunks[i].length;
  }
  return out;
}
