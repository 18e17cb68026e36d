/**
 * Exact serialized sizes of `google.protobuf.Value`, `Struct` and `ListValue` messages, computed
 * from their JSON form, so a template's `custom` tree shows the bytes protobuf's `ByteSize()` gives.
 *
 * Wire format used here: every field number is below 16, so each tag is one byte; numbers are
 * doubles (8 bytes); strings, nested messages and map entries are length-delimited; map entries
 * always carry both their key and their value, even when empty.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Bytes of `n` as a base-128 varint. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size += 1;
  }
  return size;
}

/** Bytes of a length-delimited field (one-byte tag, length, payload) holding `payload` bytes. */
export function delimitedSize(payload: number): number {
  return 1 + varintSize(payload) + payload;
}

/** Bytes of `text` in UTF-8 (lone surrogates count as U+FFFD, three bytes, as an encoder writes them). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) {
      bytes += 1;
    } else if (code < 0x800) {
      bytes += 2;
    } else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else {
        bytes += 3;
      }
    } else {
      bytes += 3;
    }
  }
  return bytes;
}

/** Sizes of containers already measured (a 5 MB `custom` is walked once). */
const measured = new WeakMap<object, number>();

/** `ByteSize()` of the `Value` whose JSON form is `value`. */
export function valueSize(value: JsonValue): number {
  if (value === null || typeof value === 'boolean') {
    return 2; // null_value (enum) or bool_value: tag + one varint byte
  }
  if (typeof value === 'number') {
    return 9; // number_value: tag + 8-byte double
  }
  if (typeof value === 'string') {
    return delimitedSize(utf8Length(value));
  }
  return delimitedSize(Array.isArray(value) ? listSize(value) : structSize(value));
}

/** `ByteSize()` of the `ListValue` whose JSON form is `items`. */
export function listSize(items: JsonValue[]): number {
  let size = measured.get(items);
  if (size === undefined) {
    size = 0;
    for (const item of items) {
      size += delimitedSize(valueSize(item));
    }
    measured.set(items, size);
  }
  return size;
}

/** `ByteSize()` of the `Struct` whose JSON form is `fields`. */
export function structSize(fields: JsonObject): number {
  let size = measured.get(fields);
  if (size === undefined) {
    size = 0;
    for (const key of Object.keys(fields)) {
      size += delimitedSize(entrySize(key, fields[key]));
    }
    measured.set(fields, size);
  }
  return size;
}

/** Bytes of one `Struct.fields` map entry's body: its key field and its value field. */
export function entrySize(key: string, value: JsonValue): number {
  return delimitedSize(utf8Length(key)) + delimitedSize(valueSize(value));
}

/** Bytes a `custom` key takes in the template, as `size_report` counts it (a Struct holding only it). */
export function customKeySize(key: string, value: JsonValue): number {
  return delimitedSize(entrySize(key, value));
}
