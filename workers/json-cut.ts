// What closes JSON text cut anywhere: its structure followed byte by byte (strings skipped by search), and the text that makes it valid where it stops.
//
// relay.ts ends a stream cut inside an event that was going on in pieces with this, so the client's SDK reads a
// valid (cut) chunk and then the error event, not a fragment it cannot parse (passed.ts).

// Where the JSON is, outside its strings: what may come next.
/** Before the value (an SSE event's `data:` prefix: everything up to the first `{`). */
const PREFIX = 0;
/** A key or the object's end (after `{`). */
const KEY_OR_END = 1;
/** A key (after `,` in an object). */
const KEY = 2;
/** The colon after a key. */
const COLON = 3;
/** A value (after `:`, or `,` in an array). */
const VALUE = 4;
/** A value or the array's end (after `[`). */
const VALUE_OR_END = 5;
/** `,` or the end of the object or array (after a value). */
const AFTER = 6;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export class JsonCut {
  #expect = PREFIX;
  /** Open objects and arrays, innermost last (`{` or `[`). */
  #stack: number[] = [];
  #inString = false;
  #isKey = false;
  /** After a backslash in a string: 1; inside \uXXXX: 1 + the hex digits still to come. */
  #escape = 0;
  /** A number or true/false/null in progress (its first characters). */
  #literal = '';

  /** What completes the JSON that went by as valid JSON: the open string, literal, key or value closed, then each open object and array. */
  repair(): string {
    let out = '';
    let expect = this.#expect;
    if (this.#inString) {
      if (this.#escape === 1) out += '\\';
      else if (this.#escape > 1) out += '0'.repeat(this.#escape - 1);
      out += '"';
      expect = this.#isKey ? COLON : AFTER;
    } else if (this.#literal !== '') {
      out += completeLiteral(this.#literal);
      expect = AFTER;
    }
    if (expect === COLON) out += ':null';
    else if (expect === VALUE) out += 'null';
    else if (expect === KEY) out += '"":null';
    for (let i = this.#stack.length - 1; i >= 0; i--) out += this.#stack[i] === 0x7b ? '}' : ']';
    return out;
  }

  /** Follows the JSON's structure over `b[s, e)`: strings skipped by search, the rest byte by byte. */
  track(b: Buffer, s: number, e: number): void {
    let i = s;
    // the next backslash at or after i (-1: none in b): searched again only once passed, so b is scanned once
    let bs = -2;
    while (i < e) {
      if (this.#inString) {
        if (this.#escape === 1) {
          this.#escape = b[i] === 0x75 ? 5 : 0; // \u: four hex digits follow
          i++;
          continue;
        }
        if (this.#escape > 1) {
          this.#escape = this.#escape === 2 ? 0 : this.#escape - 1;
          i++;
          continue;
        }
        let q = b.indexOf(QUOTE, i);
        if (q < 0 || q >= e) q = e;
        if (bs !== -1 && bs < i) bs = b.indexOf(BACKSLASH, i);
        if (bs !== -1 && bs < q) {
          this.#escape = 1;
          i = bs + 1;
          continue;
        }
        if (q >= e) return;
        this.#inString = false;
        this.#expect = this.#isKey ? COLON : AFTER;
        i = q + 1;
        continue;
      }
      const c = b[i]!;
      i++;
      if (this.#expect === PREFIX) {
        if (c === 0x7b) this.#open(c);
        continue;
      }
      if (this.#literal !== '') {
        if (c > 0x20 && c !== 0x2c && c !== 0x7d && c !== 0x5d && c !== 0x3a) {
          if (this.#literal.length < 8) this.#literal += String.fromCharCode(c);
          continue;
        }
        this.#literal = '';
        this.#expect = AFTER;
      }
      if (c <= 0x20) continue;
      if (c === QUOTE) {
        this.#inString = true;
        this.#isKey = this.#expect === KEY || this.#expect === KEY_OR_END;
      } else if (c === 0x7b || c === 0x5b) this.#open(c);
      else if (c === 0x7d || c === 0x5d) {
        this.#stack.pop();
        this.#expect = AFTER;
      } else if (c === 0x3a) this.#expect = VALUE;
      else if (c === 0x2c) this.#expect = this.#stack.at(-1) === 0x7b ? KEY : VALUE;
      else this.#literal = String.fromCharCode(c);
    }
  }

  #open(c: number): void {
    this.#stack.push(c);
    this.#expect = c === 0x7b ? KEY_OR_END : VALUE_OR_END;
  }
}

/** A number or literal cut short, completed: `tr` → `true`, `1.` → `1.0`, `-` → `-0`. */
function completeLiteral(lit: string): string {
  for (const word of ['true', 'false', 'null']) if (word.startsWith(lit)) return word.slice(lit.length);
  return /[-+.eE]$/.test(lit) ? '0' : '';
}
