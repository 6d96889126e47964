/**
 * The one place Tessera tells a user something without stopping them: a schedule call that
 * is legal but probably not what was meant (a reorder that changes nothing). One line on
 * stderr; `warnings.sink` can be replaced (tests capture it, an application may silence it).
 */
export const warnings: { sink: (message: string) => void } = {
  sink: (message) => console.warn(`Tessera warning: ${message}`),
};

export function warn(message: string): void {
  warnings.sink(message);
}
