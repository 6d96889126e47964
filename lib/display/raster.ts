/**
 * SVG to PNG, for exports that cannot show SVG. Debian's nbconvert 6.5 passes every HTML and
 * SVG output through lxml's cleaner, which strips each shape out of an SVG and drops `data:`
 * URLs of SVG images, but keeps an `<img>` of a PNG: a chart with a PNG beside its SVG
 * survives a plain `jupyter nbconvert --to html`. resvg (as WebAssembly, no native code) draws
 * it; it is loaded on first use. WebAssembly sees no system fonts, so the first common sans
 * font found on disk is handed to it; without one the PNG has its shapes and no text.
 */
import { createRequire } from "node:module";

/** Font files and their family names, the first one found is used. */
const FONTS: [string, string][] = [
  ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVu Sans"],
  ["/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", "Liberation Sans"],
  ["/usr/share/fonts/TTF/DejaVuSans.ttf", "DejaVu Sans"],
  ["/System/Library/Fonts/Supplemental/Arial.ttf", "Arial"],
  ["C:\\Windows\\Fonts\\arial.ttf", "Arial"],
];

type Resvg = typeof import("@resvg/resvg-wasm");
let loaded: Promise<{ resvg: Resvg; fonts: Uint8Array[]; family?: string }> | null = null;

function load() {
  loaded ??= (async () => {
    const resvg = await import("@resvg/resvg-wasm");
    const wasm = createRequire(import.meta.url).resolve("@resvg/resvg-wasm/index_bg.wasm");
    await resvg.initWasm(await Deno.readFile(wasm));
    for (const [file, family] of FONTS) {
      const bytes = await Deno.readFile(file).catch(() => null);
      if (bytes) return { resvg, fonts: [bytes], family };
    }
    return { resvg, fonts: [] };
  })();
  return loaded;
}

/** The PNG of `svg` at `scale` times its size (2: sharp on high-density screens), on white. */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  const { resvg, fonts, family } = await load();
  const r = new resvg.Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    background: "white",
    font: {
      fontBuffers: fonts,
      loadSystemFonts: false,
      ...(family ? { defaultFontFamily: family, sansSerifFamily: family } : {}),
    },
  });
  try {
    return r.render().asPng();
  } finally {
    r.free();
  }
}
