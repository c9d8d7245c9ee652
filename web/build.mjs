// Bundles the playground page into dist/ (served by `graphflow playground`): `npm run build`.
import { build } from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";

await rm("dist", { recursive: true, force: true });
await mkdir("dist", { recursive: true });
await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "esm",
  target: ["es2022"],
  outfile: "dist/app.js",
  logLevel: "warning",
});
await copyFile("index.html", "dist/index.html");
await copyFile("style.css", "dist/style.css");
console.log("web: built dist/ (index.html, app.js, style.css)");
