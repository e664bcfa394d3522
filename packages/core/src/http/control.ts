/**
 * The Protobuf control messages `serve()` exchanges with the kernel (its options, the
 * bridge layout, the bound address, the counters), encoded and decoded without touching
 * anything user code can replace.
 *
 * `serve()` must keep working after user code replaced, say,
 * `Array.prototype[Symbol.iterator]` (as `Deno.serve` does). protobuf-es destructures
 * arrays while it decodes and iterates with `for…of` while it compiles a codec, so this
 * module does the wire format itself for the handful of message shapes serving needs,
 * driven by the generated descriptors (read once, when a codec is made at module load, with
 * index loops only). It knows the proto3 scalars these messages use — 32- and 64-bit
 * unsigned and signed integers, bool, string, bytes — lists of them, and nested messages;
 * a descriptor with anything else is refused when its codec is made, so a proto change
 * cannot slip past unnoticed. 64-bit integers are `bigint`, as protobuf-es gives them.
 *
 * @module
 */

import {
  type DescMessage,
  type MessageInitShape,
  type MessageShape,
  ScalarType,
} from "@bufbuild/protobuf";

interface Field {
  number: number;
  name: string;
  repeated: boolean;
  /** The scalar type, or undefined for a message. */
  scalar: ScalarType | undefined;
  /** The codec of a message field. */
  message: Codec<DescMessage> | undefined;
}

function supported(scalar: ScalarType): boolean {
  switch (scalar) {
    case ScalarType.UINT32:
    case ScalarType.UINT64:
    case ScalarType.INT32:
    case ScalarType.INT64:
    case ScalarType.BOOL:
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return true;
    default:
      return false;
  }
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_DELIMITED = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

function is64(scalar: ScalarType): boolean {
  return scalar === ScalarType.UINT64 || scalar === ScalarType.INT64;
}

function defaultOf(field: Field): unknown {
  if (field.repeated) return [];
  switch (field.scalar) {
    case undefined:
      return undefined;
    case ScalarType.BOOL:
      return false;
    case ScalarType.STRING:
      return "";
    case ScalarType.BYTES:
      return new Uint8Array(0);
    default:
      return is64(field.scalar) ? 0n : 0;
  }
}

/** Encodes and decodes one message type; see the module docs. */
export class Codec<Desc extends DescMessage> {
  #fields: Field[] = [];
  #byNumber: (Field | undefined)[] = [];

  /**
   * Reads `desc`'s fields; throws for a field kind this module does not know.
   *
   * @example
   * ```ts
   * import { ServerAddressSchema } from "@krepis/bindings";
   * import { Codec } from "./control.ts";
   * const address = new Codec(ServerAddressSchema);
   * const bytes = address.encode({ hostname: "127.0.0.1", port: 8000 });
   * console.assert(address.decode(bytes).port === 8000);
   * ```
   */
  constructor(desc: Desc) {
    const fields = desc.fields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      let field: Field;
      const base = { number: f.number, name: f.localName };
      if (f.fieldKind === "scalar" && supported(f.scalar)) {
        field = {
          ...base,
          repeated: false,
          scalar: f.scalar,
          message: undefined,
        };
      } else if (f.fieldKind === "message") {
        field = {
          ...base,
          repeated: false,
          scalar: undefined,
          message: new Codec(f.message),
        };
      } else if (
        f.fieldKind === "list" && f.listKind === "scalar" &&
        supported(f.scalar)
      ) {
        field = {
          ...base,
          repeated: true,
          scalar: f.scalar,
          message: undefined,
        };
      } else if (f.fieldKind === "list" && f.listKind === "message") {
        field = {
          ...base,
          repeated: true,
          scalar: undefined,
          message: new Codec(f.message),
        };
      } else {
        throw new TypeError(
          `${desc.typeName}.${f.name}: a field kind the control codec does not handle`,
        );
      }
      this.#fields.push(field);
      this.#byNumber[f.number] = field;
    }
  }

  /** Decodes `bytes`; absent fields get their proto3 defaults. */
  decode(bytes: Uint8Array): MessageShape<Desc> {
    const message: Record<string, unknown> = {};
    for (let i = 0; i < this.#fields.length; i++) {
      message[this.#fields[i].name] = defaultOf(this.#fields[i]);
    }
    const reader = new Reader(bytes);
    while (reader.at < bytes.length) {
      const tag = Number(reader.varint());
      const field = this.#byNumber[tag >>> 3];
      const wire = tag & 7;
      if (field === undefined) {
        reader.skip(wire);
        continue;
      }
      if (field.message !== undefined) {
        const value = field.message.decode(reader.delimited(wire));
        if (field.repeated) (message[field.name] as unknown[]).push(value);
        else message[field.name] = value;
      } else if (
        field.repeated && wire === WIRE_DELIMITED &&
        field.scalar !== ScalarType.STRING && field.scalar !== ScalarType.BYTES
      ) {
        // Packed numbers.
        const packed = new Reader(reader.delimited(wire));
        const list = message[field.name] as unknown[];
        while (packed.at < packed.bytes.length) {
          list.push(packed.scalar(field.scalar!, WIRE_VARINT));
        }
      } else {
        const value = reader.scalar(field.scalar!, wire);
        if (field.repeated) (message[field.name] as unknown[]).push(value);
        else message[field.name] = value;
      }
    }
    return message as MessageShape<Desc>;
  }

  /** Encodes `init` (proto3: fields at their default are left out). */
  encode(init: MessageInitShape<Desc>): Uint8Array<ArrayBuffer> {
    const writer = new Writer();
    this.#write(writer, init as Record<string, unknown>);
    return writer.finish();
  }

  #write(writer: Writer, message: Record<string, unknown>): void {
    for (let i = 0; i < this.#fields.length; i++) {
      const field = this.#fields[i];
      const value = message[field.name];
      if (value === undefined || value === null) continue;
      if (!field.repeated) {
        this.#writeOne(writer, field, value);
        continue;
      }
      const list = value as unknown[];
      if (list.length === 0) continue;
      const scalar = field.scalar;
      if (
        scalar !== undefined && scalar !== ScalarType.STRING &&
        scalar !== ScalarType.BYTES
      ) {
        const packed = new Writer();
        for (let j = 0; j < list.length; j++) packed.number(scalar, list[j]);
        writer.tag(field.number, WIRE_DELIMITED);
        writer.bytes(packed.finish());
      } else {
        for (let j = 0; j < list.length; j++) {
          this.#writeOne(writer, field, list[j]);
        }
      }
    }
  }

  #writeOne(writer: Writer, field: Field, value: unknown): void {
    if (field.message !== undefined) {
      const inner = new Writer();
      (field.message as Codec<DescMessage>).#write(
        inner,
        value as Record<string, unknown>,
      );
      writer.tag(field.number, WIRE_DELIMITED);
      writer.bytes(inner.finish());
      return;
    }
    switch (field.scalar) {
      case ScalarType.STRING:
        if (!field.repeated && value === "") return;
        writer.tag(field.number, WIRE_DELIMITED);
        writer.bytes(encoder.encode(value as string));
        return;
      case ScalarType.BYTES:
        if (!field.repeated && (value as Uint8Array).length === 0) return;
        writer.tag(field.number, WIRE_DELIMITED);
        writer.bytes(value as Uint8Array);
        return;
      default:
        if (
          !field.repeated &&
          (value === 0 || value === 0n || value === false)
        ) return;
        writer.tag(field.number, WIRE_VARINT);
        writer.number(field.scalar!, value);
    }
  }
}

class Reader {
  readonly bytes: Uint8Array;
  at = 0;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  varint(): bigint {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.at >= this.bytes.length) throw truncated();
      const b = this.bytes[this.at++];
      value |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return value;
    }
    throw new RangeError("control message: varint longer than 10 bytes");
  }

  delimited(wire: number): Uint8Array {
    if (wire !== WIRE_DELIMITED) throw wrongWire();
    const length = Number(this.varint());
    if (this.at + length > this.bytes.length) throw truncated();
    return this.bytes.subarray(this.at, this.at += length);
  }

  scalar(scalar: ScalarType, wire: number): unknown {
    switch (scalar) {
      case ScalarType.STRING:
        return utf8.decode(this.delimited(wire));
      case ScalarType.BYTES:
        return this.delimited(wire).slice();
    }
    if (wire !== WIRE_VARINT) throw wrongWire();
    const raw = this.varint();
    switch (scalar) {
      case ScalarType.BOOL:
        return raw !== 0n;
      case ScalarType.UINT64:
        return BigInt.asUintN(64, raw);
      case ScalarType.INT64:
        return BigInt.asIntN(64, raw);
      case ScalarType.UINT32:
        return Number(BigInt.asUintN(32, raw));
      default:
        return Number(BigInt.asIntN(32, raw));
    }
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.at += 8;
        break;
      case WIRE_DELIMITED:
        this.delimited(wire);
        return;
      case WIRE_FIXED32:
        this.at += 4;
        break;
      default:
        throw wrongWire();
    }
    if (this.at > this.bytes.length) throw truncated();
  }
}

/** Collects bytes in a growing buffer. */
class Writer {
  #buffer = new Uint8Array(64);
  #length = 0;

  #reserve(n: number): void {
    if (this.#length + n <= this.#buffer.length) return;
    const grown = new Uint8Array(
      Math.max(this.#buffer.length * 2, this.#length + n),
    );
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
  }

  varint(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    this.#reserve(10);
    while (v >= 0x80n) {
      this.#buffer[this.#length++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#buffer[this.#length++] = Number(v);
  }

  tag(number: number, wire: number): void {
    this.varint(BigInt((number << 3) | wire));
  }

  number(scalar: ScalarType, value: unknown): void {
    if (scalar === ScalarType.BOOL) {
      this.varint(value ? 1n : 0n);
      return;
    }
    const n = typeof value === "bigint" ? value : BigInt(value as number);
    this.varint(
      is64(scalar) || scalar === ScalarType.INT32 ? n : BigInt.asUintN(32, n),
    );
  }

  bytes(bytes: Uint8Array): void {
    this.varint(BigInt(bytes.length));
    this.#reserve(bytes.length);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  finish(): Uint8Array<ArrayBuffer> {
    return this.#buffer.slice(0, this.#length);
  }
}

function truncated(): RangeError {
  return new RangeError("control message: truncated");
}

function wrongWire(): RangeError {
  return new RangeError("control message: unexpected wire type");
}
