/**
 * Syntax colouring for the code Tessera shows: the TVMScript-like loop IR, generated C and
 * generated WGSL. A single pass of one regular expression per language is enough for code we
 * printed ourselves (no nested languages, no heredocs), and every token's text is escaped
 * before it is wrapped, so a buffer name or a string in the code never becomes markup.
 */
import { escapeHtml, type Html, rawHtml } from "./html.ts";

export type Lang = "tvmscript" | "c" | "wgsl";

const words = (s: string) => new Set(s.split(/\s+/).filter((w) => w.length > 0));

const KEYWORDS: Record<Lang, Set<string>> = {
  tvmscript: words("def for in if else elif return and or not pass True False None with as"),
  c: words(
    "for if else while do return break continue goto switch case default static inline const " +
      "restrict __restrict__ struct typedef union enum extern sizeof volatile",
  ),
  wgsl: words(
    "fn let var const for if else loop while return break continue switch case default struct " +
      "override alias true false discard continuing",
  ),
};

const TYPES: Record<Lang, Set<string>> = {
  tvmscript: words("T"),
  c: words(
    "void char short int long float double signed unsigned _Bool _Float16 bool size_t int8_t " +
      "int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t",
  ),
  wgsl: words(
    "f32 f16 i32 u32 bool vec2 vec3 vec4 vec2f vec3f vec4f vec2i vec3i vec4i vec2u vec3u vec4u " +
      "mat2x2 mat3x3 mat4x4 array ptr atomic storage uniform workgroup function private read " +
      "read_write",
  ),
};

const COMMENT: Record<Lang, string> = {
  tvmscript: String.raw`#[^\n]*`,
  c: String.raw`//[^\n]*|/\*[\s\S]*?\*/`,
  wgsl: String.raw`//[^\n]*|/\*[\s\S]*?\*/`,
};

const TOKENS = (lang: Lang) =>
  new RegExp(
    [
      `(?<com>${COMMENT[lang]})`,
      lang === "c" ? String.raw`(?<pp>(?<=^[ \t]*)#[^\n]*)` : String.raw`(?<pp>@[A-Za-z_][\w.]*)`,
      String.raw`(?<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')`,
      String
        .raw`(?<num>\b0[xX][0-9a-fA-F]+[uUlL]*|(?:\b\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fFuUlLhi]*)`,
      String.raw`(?<id>[A-Za-z_]\w*)(?<call>\s*\()?`,
    ].join("|"),
    "gm",
  );

const span = (cls: string, text: string) => `<span class="tsr-${cls}">${escapeHtml(text)}</span>`;

/** `code` as HTML with spans for keywords, types, numbers, strings, comments and calls. */
export function highlight(code: string, lang: Lang): Html {
  const re = TOKENS(lang);
  let out = "", last = 0;
  for (const m of code.matchAll(re)) {
    out += escapeHtml(code.slice(last, m.index));
    last = m.index + m[0].length;
    const g = m.groups!;
    if (g.com !== undefined) out += span("com", g.com);
    else if (g.pp !== undefined) out += span("pp", g.pp);
    else if (g.str !== undefined) out += span("str", g.str);
    else if (g.num !== undefined) out += span("num", g.num);
    else {
      const id = g.id;
      const cls = KEYWORDS[lang].has(id)
        ? "kw"
        : TYPES[lang].has(id)
        ? "ty"
        : g.call !== undefined
        ? "fn"
        : null;
      out += cls ? span(cls, id) : escapeHtml(id);
      if (g.call !== undefined) out += escapeHtml(g.call);
    }
  }
  out += escapeHtml(code.slice(last));
  return rawHtml(out);
}

/** The language a target's source is written in. */
export function langOfTarget(target: string): Lang {
  if (target === "c") return "c";
  if (/gpu|wgsl/i.test(target)) return "wgsl";
  return "tvmscript";
}
