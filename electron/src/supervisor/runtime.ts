/**
 * Where the host's Python is. In development it is `uv run enttok serve` from the
 * repository, so the host always runs the workspace as checked out; packaged, it is the
 * venv that electron-builder put under `resources/host` (see scripts/prepare-resources.ts).
 * Either way the command line carries no secret: the token goes in the environment.
 */

import fs from "node:fs";
import path from "node:path";

export interface Runtime {
  command: string;
  args: string[];
  cwd: string;
  /** How a person would name it in an error message. */
  description: string;
}

export class RuntimeNotFound extends Error {
  override name = "RuntimeNotFound";
}

export const SERVE_ARGS = ["serve", "--parent-watch"];

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The first `name` on PATH (with Windows' extensions), or null. */
export function findOnPath(name: string, searchPath = process.env.PATH ?? ""): string | null {
  const extensions = process.platform === "win32" ? (process.env.PATHEXT ?? ".EXE;.CMD").split(";") : [""];
  for (const directory of searchPath.split(path.delimiter).filter(Boolean)) {
    for (const extension of extensions) {
      const candidate = path.join(directory, name + extension);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return null;
}

/**
 * Development: `uv run enttok serve --parent-watch` in the repository root. `uv` is the one
 * in `$UV` (uv sets it for what it runs, so the app started under `uv run` finds it), else
 * the first on PATH.
 */
export function developmentRuntime(
  repositoryRoot: string,
  searchPath = process.env.PATH ?? "",
  uvFromEnvironment = process.env.UV,
): Runtime {
  const uv = uvFromEnvironment && isExecutable(uvFromEnvironment) ? uvFromEnvironment : findOnPath("uv", searchPath);
  if (!uv) {
    throw new RuntimeNotFound(
      "The Python runtime was not found: `uv` is not on PATH. Install uv (see the README) and start the server again.",
    );
  }
  if (!fs.existsSync(path.join(repositoryRoot, "pyproject.toml"))) {
    throw new RuntimeNotFound(`The enttok repository was not found at ${repositoryRoot} (no pyproject.toml).`);
  }
  return {
    command: uv,
    args: ["run", "enttok", ...SERVE_ARGS],
    cwd: repositoryRoot,
    description: "uv run enttok serve",
  };
}

/** Packaged: the bundled venv's Python, `python -m enttok serve --parent-watch`. */
export function packagedRuntime(resourcesPath: string): Runtime {
  const venv = path.join(resourcesPath, "host", "venv");
  const python =
    process.platform === "win32" ? path.join(venv, "Scripts", "python.exe") : path.join(venv, "bin", "python");
  if (!fs.existsSync(python)) {
    throw new RuntimeNotFound(`The bundled Python runtime is missing (${python}). Reinstall the app.`);
  }
  return { command: python, args: ["-m", "enttok", ...SERVE_ARGS], cwd: venv, description: "the bundled host" };
}
