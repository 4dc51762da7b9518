/**
 * A loopback fake of the Vault / OpenBao transit HTTP API (`POST /v1/<mount>/encrypt/<key>` and
 * `/decrypt/<key>`): it checks `X-Vault-Token` (403 `{"errors":["permission denied"]}` otherwise) and
 * `X-Vault-Namespace`, really encrypts with AES-256-GCM (a random 12-byte nonce prepended, like
 * transit's aes256-gcm96), authenticates `associated_data`, returns `vault:vN:<base64>`, keeps old key
 * versions after `rotate()`, and answers 400 `cipher: message authentication failed` or
 * `invalid ciphertext: ...` as transit does.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export const VAULT_TOKEN = "hvs.CANARY-vault-token-0123456789";

/** A canned failure: a status with transit's `errors` array, a hang or a reset. */
export type VaultFault = { status: number; errors: string[] } | "hang" | "reset";

export interface VaultRequestLog {
  path: string;
  token: string;
  namespace: string | undefined;
  body: Record<string, unknown>;
}

export interface FakeVault {
  readonly address: string;
  readonly requests: VaultRequestLog[];
  fault: VaultFault | undefined;
  /** Adds a key version; new encryptions use it, old ciphertexts still decrypt. */
  rotate(): void;
  close(): Promise<void>;
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

export async function startFakeVault(options: {
  mount?: string;
  keyName: string;
  namespace?: string;
  /** Behave like transit before Vault 1.13: ignore `associated_data`, with the framework's warning. */
  ignoresAssociatedData?: boolean;
}): Promise<FakeVault> {
  const versions: Buffer[] = [randomBytes(32)];
  const hung = new Set<ServerResponse>();
  const mount = options.mount ?? "transit";
  const state: FakeVault = {
    address: "",
    requests: [],
    fault: undefined,
    rotate: () => {
      versions.push(randomBytes(32));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hung) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readBody(req);
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const token = String(req.headers["x-vault-token"] ?? "");
    const namespace = req.headers["x-vault-namespace"] as string | undefined;
    const body = JSON.parse(raw.toString("utf8") || "{}") as Record<string, unknown>;
    state.requests.push({ path, token, namespace, body });
    const fault = state.fault;
    if (fault === "hang") {
      hung.add(res);
      return;
    }
    if (fault === "reset") {
      req.socket.destroy();
      return;
    }
    if (fault !== undefined) return send(res, fault.status, { errors: fault.errors });
    if (token !== VAULT_TOKEN || namespace !== options.namespace)
      return send(res, 403, { errors: ["permission denied"] });
    const match = new RegExp(`^/v1/${mount}/(encrypt|decrypt)/([^/]+)$`).exec(path);
    if (req.method !== "POST" || match === null) return send(res, 404, { errors: [] });
    if (decodeURIComponent(match[2] as string) !== options.keyName)
      return send(res, 400, { errors: ["encryption key not found"] });
    const ignored = options.ignoresAssociatedData === true && body.associated_data !== undefined;
    const warnings = ignored ? ["Endpoint ignored these unrecognized parameters: [associated_data]"] : undefined;
    const ad = typeof body.associated_data === "string" && !ignored ? body.associated_data : "";
    if (!STRICT_BASE64.test(ad)) return send(res, 400, { errors: ["failed to base64-decode associated data"] });

    if (match[1] === "encrypt") {
      const plaintext = typeof body.plaintext === "string" ? body.plaintext : "";
      if (!STRICT_BASE64.test(plaintext)) return send(res, 400, { errors: ["failed to base64-decode plaintext"] });
      const version = versions.length;
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", versions[version - 1] as Buffer, nonce);
      cipher.setAAD(Buffer.from(ad, "base64"));
      const sealed = Buffer.concat([
        nonce,
        cipher.update(Buffer.from(plaintext, "base64")),
        cipher.final(),
        cipher.getAuthTag(),
      ]);
      return send(res, 200, {
        data: { ciphertext: `vault:v${version}:${sealed.toString("base64")}`, key_version: version },
        warnings,
      });
    }
    const ciphertext = typeof body.ciphertext === "string" ? body.ciphertext : "";
    if (!ciphertext.startsWith("vault:")) return send(res, 400, { errors: ["invalid ciphertext: no prefix"] });
    const fields = /^vault:v(\d+):(.*)$/s.exec(ciphertext);
    if (fields === null) return send(res, 400, { errors: ["invalid ciphertext: wrong number of fields"] });
    const version = Number(fields[1]);
    if (version > versions.length) return send(res, 400, { errors: ["invalid ciphertext: version is too new"] });
    if (!STRICT_BASE64.test(fields[2] as string))
      return send(res, 400, { errors: ["invalid ciphertext: could not decode base64"] });
    const sealed = Buffer.from(fields[2] as string, "base64");
    try {
      if (sealed.length < 12 + 16) throw new Error("short");
      const decipher = createDecipheriv(
        "aes-256-gcm",
        versions[Math.max(version, 1) - 1] as Buffer,
        sealed.subarray(0, 12),
      );
      decipher.setAAD(Buffer.from(ad, "base64"));
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      const plain = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
      return send(res, 200, { data: { plaintext: plain.toString("base64") }, warnings });
    } catch {
      return send(res, 400, { errors: ["cipher: message authentication failed"] });
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, { errors: ["internal error"] }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (state as { address: string }).address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
