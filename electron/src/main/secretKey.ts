/**
 * BACKEND_SECRET_KEY for the host's encrypted secret store (used where the OS has no keyring
 * backend): made once, kept on disk only as safeStorage ciphertext. The encryption is passed
 * in, so this runs (and is tested) without Electron.
 */

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export interface Encryption {
  isEncryptionAvailable(): boolean;
  encryptString(plain: string): Buffer;
  decryptString(cipher: Buffer): string;
}

/** The key, made on first use; undefined where the system offers no encryption. */
export function loadSecretKey(file: string, encryption: Encryption): string | undefined {
  if (!encryption.isEncryptionAvailable()) return undefined;
  if (fs.existsSync(file)) return encryption.decryptString(fs.readFileSync(file));
  const key = randomBytes(32).toString("base64url");
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, encryption.encryptString(key), { mode: 0o600 });
  return key;
}
