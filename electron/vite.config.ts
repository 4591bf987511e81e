import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The renderer: built to dist/renderer, loaded by main from app://enttok/ (relative paths).
export default defineConfig({
  root: "src/renderer",
  base: "./",
  plugins: [react()],
  build: { outDir: "../../dist/renderer", emptyOutDir: true, sourcemap: true },
});
