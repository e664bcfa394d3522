/**
 * The `Request` handlers receive: a real `Request` by prototype (`instanceof Request`
 * holds), built lazily from the kernel's record. Constructing a full `Request` costs about
 * 18 µs in Deno 2.9 — three times the whole budget of a hello-world request — so headers,
 * body stream and the rare fields are made only when read.
 *
 * A buffered body is a view of kernel memory, detached once the response is complete. That
 * view never reaches user code: `text()` and `json()` decode it in place (no copy, no
 * reference escapes), while `arrayBuffer()`, `bytes()`, `blob()`, `formData()`, `clone()`
 * and `req.body` hand out one copy — bytes a handler keeps are its own, and may be mutated
 * or `transfer()`ed freely.
 *
 * @module
 */

import type { RequestRecord } from "./records.ts";

/**
 * Where a request's body comes from. The server updates it as the request goes on: a
 * buffered body whose client left is swapped for a copy (it fully arrived, so it stays
 * readable), and once the response is sent the source is `closed`.
 */
export interface BodySource {
  /** The whole body as kernel memory, when buffered. */
  buffer?: ArrayBuffer;
  /** Reads the next chunk of a streamed body; `null` at the end. */
  read?: () => Promise<Uint8Array<ArrayBuffer> | null>;
  /** Set once the response went out: the body can no longer be read, as under Deno. */
  closed?: boolean;
}

function closedError(): TypeError {
  return new TypeError("Request closed");
}

const utf8 = new TextDecoder();
const NO_BODY = new Set(["GET", "HEAD"]);

/**
 * A lazily built `Request`. Everything a handler can observe behaves as for the `Request`
 * `Deno.serve` passes; members not implemented here are served by a real `Request` made
 * on first use (`clone()`, `formData()`, `cache`, `mode`, and Deno's internal fields, so
 * `new Request(req)` and `fetch(req)` work too).
 */
export class KernelRequest {
  #record: RequestRecord;
  #source: BodySource | null;
  #signal: () => AbortSignal;
  #headers: Headers | undefined;
  #stream: ReadableStream<Uint8Array<ArrayBuffer>> | null | undefined;
  #used = false;
  #real: Request | undefined;

  /** Wraps a request record; `signal` is called when the signal is first needed. */
  constructor(
    record: RequestRecord,
    source: BodySource | null,
    signal: () => AbortSignal,
  ) {
    this.#record = record;
    this.#source = source;
    this.#signal = signal;
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
    if (this.#headers === undefined) {
      const pairs = this.#record.headers;
      const headers = new Headers();
      for (let i = 0; i < pairs.length; i += 2) {
        headers.append(pairs[i], pairs[i + 1]);
      }
      this.#headers = headers;
    }
    return this.#headers;
  }

  /** Fires when the client disconnects or the deadline passes. */
  get signal(): AbortSignal {
    return this.#signal();
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
    return this.#consume((bytes, borrowed) =>
      (borrowed ? bytes.slice() : bytes).buffer
    );
  }

  /** The body as bytes, copied out of kernel memory (the caller owns them). */
  bytes(): Promise<Uint8Array<ArrayBuffer>> {
    if (this.#real) return this.#real.bytes();
    return this.#consume((bytes, borrowed) => borrowed ? bytes.slice() : bytes);
  }

  /** The body decoded as UTF-8, straight from kernel memory. */
  text(): Promise<string> {
    if (this.#real) return this.#real.text();
    return this.#consume((bytes) => utf8.decode(bytes));
  }

  /** The body parsed as JSON, decoded straight from kernel memory. */
  json(): Promise<unknown> {
    if (this.#real) return this.#real.json();
    return this.#consume((bytes) => JSON.parse(utf8.decode(bytes)));
  }

  /** The body as a `Blob` typed with the request's content type. */
  blob(): Promise<Blob> {
    if (this.#real) return this.#real.blob();
    const type = this.headers.get("content-type") ?? "";
    // A Blob copies its parts, so the kernel view does not escape.
    return this.#consume((bytes) => new Blob([bytes], { type }));
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
    for (const symbol of Object.getOwnPropertySymbols(probe)) {
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
    if (source === null || NO_BODY.has(this.#record.method)) return null;
    if (source.buffer !== undefined) {
      return new ReadableStream({
        type: "bytes",
        // Filled on the first read (not at creation), so the body counts as used only once
        // it is read, and the read sees the source as it is then.
        pull: (controller) => {
          this.#used = true;
          if (source.closed) throw closedError();
          const buffer = source.buffer!;
          // Byte streams transfer what they are given, which would move kernel memory out
          // of reach of the detach at the end of the request: a stream gets a copy.
          if (buffer.byteLength > 0) {
            controller.enqueue(new Uint8Array(buffer.slice(0)));
          }
          controller.close();
        },
      });
    }
    const read = source.read!;
    return new ReadableStream({
      type: "bytes",
      pull: async (controller) => {
        this.#used = true;
        if (source.closed) throw closedError();
        const chunk = await read();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
    });
  }

  /**
   * Reads the whole body and hands it to `use`. A buffered body is a view of kernel memory,
   * passed (`borrowed`) to `use` synchronously, before anything awaits: the request may be
   * abandoned and that memory detached at any later turn. So `use` decodes or copies it and
   * never lets it (or its `buffer`) escape to user code.
   */
  #consume<T>(
    use: (bytes: Uint8Array<ArrayBuffer>, borrowed: boolean) => T,
  ): Promise<T> {
    try {
      if (this.bodyUsed || (this.#stream?.locked ?? false)) {
        throw new TypeError("Body already consumed");
      }
      this.#used = true;
      const source = this.#source;
      if (source === null) {
        return Promise.resolve(use(new Uint8Array(0), false));
      }
      if (source.closed) throw closedError();
      if (source.buffer !== undefined && this.#stream === undefined) {
        return Promise.resolve(use(new Uint8Array(source.buffer), true));
      }
      const stream = this.body;
      if (stream === null) {
        return Promise.resolve(use(new Uint8Array(0), false));
      }
      return collect(stream).then((bytes) => use(bytes, false));
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
