/**
 * HTML that cannot be injected into. Everything a display shows comes from user objects
 * (tensor names, buffer names built below the `te` layer, kernel source), so markup is only
 * ever built with the `h` tag: interpolated strings are escaped, and only values that are
 * already `Html` (made by this tag) pass through as markup. A bundle that forgets to escape
 * is then a type error rather than a script in someone's notebook.
 */

/** Markup known to be safe: made by `h` or `rawHtml`. */
export class Html {
  constructor(readonly markup: string) {}
  toString(): string {
    return this.markup;
  }
}

export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Text as HTML text or attribute content: the five characters that matter become entities. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

function render(v: HtmlValue): string {
  if (v instanceof Html) return v.markup;
  if (Array.isArray(v)) return v.map(render).join("");
  if (v === null || v === undefined || v === false) return "";
  return escapeHtml(String(v));
}

/**
 * Tagged template: `h\`<b>${name}</b>\`` escapes `name` unless it is already `Html`. Not
 * called `html` because `deno fmt` reformats templates with that tag, and the whitespace it
 * adds is visible in `white-space: pre` code and loop nests.
 */
export function h(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0];
  values.forEach((v, i) => (out += render(v) + strings[i + 1]));
  return new Html(out);
}

/** For markup this module's callers generate themselves from escaped parts (highlighters). */
export function rawHtml(markup: string): Html {
  return new Html(markup);
}
