/**
 * The AWS KMS, Google Cloud KMS and Vault/OpenBao transit root keys, driven through the official
 * clients (`@aws-sdk/client-kms`, `@google-cloud/kms` over its REST transport) and `fetch` against
 * loopback fakes of each service's protocol (test/kms-fakes): the fakes really encrypt and
 * authenticate the associated data, so wrong AAD and tampering fail on the service side. One shared
 * suite per provider: round trip, opaque unwrap failures, service errors and timeouts as
 * RootKeyUnavailable without secrets or bodies, redaction, and the key-store end to end on a real
 * database (PGlite, or the server at DATABASE_URL).
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { inspect } from "node:util";
import { KMSClient } from "@aws-sdk/client-kms";
import { KeyManagementServiceClient } from "@google-cloud/kms";
import * as grpc from "@grpc/grpc-js";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { decrypt, encrypt } from "../src/cell/index.js";
import { createDataKey, listDataKeys, loadKeyring, rotateRootKey } from "../src/key-store/index.js";
import { AWS_AAD_CONTEXT_KEY, awsKmsRootKey } from "../src/kms/aws.js";
import { gcpKmsRootKey } from "../src/kms/gcp.js";
import { crc32c } from "../src/kms/gcp-crc32c.js";
import { localRootKey, type RootKeyProvider } from "../src/kms/index.js";
import { vaultTransitRootKey } from "../src/kms/vault.js";
import type { Queryable } from "../src/pg/index.js";
import { type TestDb, useTestDb } from "./db.js";
import { keyBytes, rejection } from "./helpers.js";
import { AWS_ALIAS, AWS_KEY_ARN, type FakeAwsKms, startFakeAwsKms } from "./kms-fakes/aws.js";
import { type FakeGcpKms, GCP_KEY_NAME, startFakeGcpKms } from "./kms-fakes/gcp.js";
import { type FakeVault, startFakeVault, VAULT_TOKEN } from "./kms-fakes/vault.js";

const AWS_SECRET = "CANARY-aws-secret-access-key/0123456789abcdef";
const AWS_SESSION = "CANARY-aws-session-token";
const GCP_TOKEN = "ya29.CANARY-gcp-access-token";
const BODY_CANARY = "CANARY-RESPONSE-BODY";
const AAD = Buffer.from("fieldcrypt-v1-data-key\0dk-1\0tenant-a");

type Fault = "internal" | "denied" | "throttled" | "unavailable" | "hang" | "reset" | "closed";

/** One provider under test: its fake, its client, and how each failure looks on its protocol. */
interface Harness {
  readonly name: string;
  readonly id: string;
  readonly magic: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  provider(options?: { id?: string; timeoutMs?: number }): RootKeyProvider;
  /** A provider for the same key whose service is not listening. */
  closedPortProvider(port: number): RootKeyProvider;
  setFault(fault: Exclude<Fault, "closed"> | undefined): void;
  /** The failure kind each fault (and a closed port) is reported as. */
  readonly kinds: Record<Fault, string | RegExp>;
  requestCount(): number;
  /** Tampered copies of a wrapped key that the service (not only fieldcrypt) must reject. */
  tamper(wrapped: Buffer): Buffer[];
  /** Strings that must never appear in errors or inspect output (credentials, tokens). */
  readonly secrets: string[];
}

/** Flip one bit in every byte from `from` on (the service's ciphertext), and truncate. */
function flipsAndCuts(wrapped: Buffer, from: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = from; i < wrapped.length; i++) {
    const copy = Buffer.from(wrapped);
    copy[i] = (copy[i] as number) ^ (1 << (i % 8));
    out.push(copy);
  }
  for (const n of [from + 1, from + 17, wrapped.length - 1]) out.push(wrapped.subarray(0, n));
  return out;
}

function awsHarness(): Harness {
  let fake: FakeAwsKms;
  let client: KMSClient;
  const make = (endpoint: string) =>
    new KMSClient({
      region: "us-east-1",
      endpoint,
      maxAttempts: 1,
      credentials: { accessKeyId: "AKIDCANARYEXAMPLE", secretAccessKey: AWS_SECRET, sessionToken: AWS_SESSION },
    });
  const faults = {
    internal: { status: 500, type: "KMSInternalException", message: BODY_CANARY },
    denied: { status: 400, type: "AccessDeniedException", message: BODY_CANARY },
    throttled: { status: 400, type: "ThrottlingException", message: BODY_CANARY },
    unavailable: { status: 400, type: "KMSInvalidStateException", message: BODY_CANARY },
  };
  return {
    name: "AWS KMS",
    id: "aws-1",
    magic: "FCA",
    async start() {
      fake = await startFakeAwsKms();
      client = make(fake.endpoint);
    },
    async stop() {
      client.destroy();
      await fake.close();
    },
    provider: (o) => awsKmsRootKey({ id: o?.id ?? "aws-1", keyId: AWS_ALIAS, client, timeoutMs: o?.timeoutMs }),
    closedPortProvider: (port) =>
      awsKmsRootKey({ id: "aws-1", keyId: AWS_ALIAS, client: make(`http://127.0.0.1:${port}`) }),
    setFault(f) {
      fake.fault = f === undefined || f === "hang" || f === "reset" ? f : faults[f];
    },
    kinds: {
      internal: "KMSInternalException",
      denied: "AccessDeniedException",
      throttled: "ThrottlingException",
      unavailable: "KMSInvalidStateException",
      hang: "timeout",
      reset: /^(ECONNRESET|EPIPE|socket hang up|TimeoutError|error)$/,
      closed: "ECONNREFUSED",
    },
    requestCount: () => fake.requests.length,
    tamper: (wrapped) => flipsAndCuts(wrapped, 4 + 1 + 5),
    secrets: [AWS_SECRET, AWS_SESSION],
  };
}

/** One Cloud KMS key over either transport of the client: REST (`fallback: true`) or its default, gRPC. */
function gcpHarness(transport: "rest" | "grpc"): Harness {
  const grpcTransport = transport === "grpc";
  const id = grpcTransport ? "gcp-grpc-1" : "gcp-1";
  let fake: FakeGcpKms;
  let client: KeyManagementServiceClient;
  const make = (port: number) => {
    // Over gRPC, with sslCreds the channel carries no call credentials; the auth client only saves a
    // metadata-server probe.
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: GCP_TOKEN, expiry_date: Date.now() + 3_600_000 });
    return grpcTransport
      ? new KeyManagementServiceClient({
          servicePath: "127.0.0.1",
          port,
          sslCreds: grpc.credentials.createInsecure(),
          authClient,
        })
      : new KeyManagementServiceClient({
          fallback: true,
          apiEndpoint: "127.0.0.1",
          port,
          protocol: "http",
          authClient,
        });
  };
  const faults = {
    internal: { status: 500, code: "INTERNAL", message: BODY_CANARY },
    denied: { status: 403, code: "PERMISSION_DENIED", message: BODY_CANARY },
    throttled: { status: 429, code: "RESOURCE_EXHAUSTED", message: BODY_CANARY },
    unavailable: { status: 503, code: "UNAVAILABLE", message: BODY_CANARY },
  };
  // The gRPC client's default retry settings retry UNAVAILABLE until the provider's time limit.
  const retried = /^(UNAVAILABLE|timeout)$/;
  return {
    name: grpcTransport ? "Google Cloud KMS over gRPC" : "Google Cloud KMS",
    id,
    magic: "FCG",
    async start() {
      fake = await startFakeGcpKms();
      client = make(grpcTransport ? fake.grpcPort : fake.port);
    },
    async stop() {
      await client.close();
      await fake.close();
    },
    provider: (o) => gcpKmsRootKey({ id: o?.id ?? id, keyName: GCP_KEY_NAME, client, timeoutMs: o?.timeoutMs }),
    closedPortProvider: (port) =>
      gcpKmsRootKey({ id, keyName: GCP_KEY_NAME, client: make(port), timeoutMs: grpcTransport ? 1_000 : undefined }),
    setFault(f) {
      fake.fault = f === undefined || f === "hang" || f === "reset" ? f : faults[f];
    },
    kinds: {
      internal: "INTERNAL",
      denied: "PERMISSION_DENIED",
      throttled: "RESOURCE_EXHAUSTED",
      unavailable: grpcTransport ? retried : "UNAVAILABLE",
      hang: "timeout",
      reset: grpcTransport ? retried : /^(ECONNRESET|EPIPE|FetchError|error)$/,
      closed: grpcTransport ? retried : "ECONNREFUSED",
    },
    requestCount: () => fake.requests.length,
    tamper: (wrapped) => flipsAndCuts(wrapped, 4 + 1 + id.length),
    secrets: grpcTransport ? [] : [GCP_TOKEN],
  };
}

function vaultHarness(): Harness {
  let fake: FakeVault;
  const faults = {
    internal: { status: 500, errors: [BODY_CANARY] },
    denied: { status: 403, errors: ["permission denied", BODY_CANARY] },
    throttled: { status: 429, errors: ["request path transit/decrypt: rate limit quota exceeded", BODY_CANARY] },
    unavailable: { status: 503, errors: ["Vault is sealed", BODY_CANARY] },
  };
  return {
    name: "Vault transit",
    id: "vault-1",
    magic: "FCV",
    async start() {
      fake = await startFakeVault({ keyName: "fieldcrypt", mount: "kv/transit", namespace: "team-a" });
    },
    stop: () => fake.close(),
    provider: (o) =>
      vaultTransitRootKey({
        id: o?.id ?? "vault-1",
        address: `${fake.address}/`,
        token: VAULT_TOKEN,
        keyName: "fieldcrypt",
        mount: "kv/transit",
        namespace: "team-a",
        timeoutMs: o?.timeoutMs,
      }),
    closedPortProvider: (port) =>
      vaultTransitRootKey({
        id: "vault-1",
        address: `http://127.0.0.1:${port}`,
        token: VAULT_TOKEN,
        keyName: "fieldcrypt",
        mount: "kv/transit",
        namespace: "team-a",
      }),
    setFault(f) {
      fake.fault = f === undefined || f === "hang" || f === "reset" ? f : faults[f];
    },
    kinds: {
      internal: "HTTP 500",
      denied: "HTTP 403",
      throttled: "HTTP 429",
      unavailable: "HTTP 503",
      hang: "timeout",
      reset: /^(ECONNRESET|UND_ERR_SOCKET|EPIPE|TypeError|error)$/,
      closed: "ECONNREFUSED",
    },
    requestCount: () => fake.requests.length,
    tamper(wrapped) {
      // Flip bits of the transit ciphertext itself (base64-decoded), the version, and truncate.
      const header = wrapped.subarray(0, 4 + 1 + 7);
      const text = wrapped.subarray(header.length).toString("latin1");
      const [, prefix, body] = /^(vault:v\d+:)(.*)$/.exec(text) as RegExpExecArray;
      const sealed = Buffer.from(body as string, "base64");
      const out: Buffer[] = [];
      for (let i = 0; i < sealed.length; i++) {
        const copy = Buffer.from(sealed);
        copy[i] = (copy[i] as number) ^ (1 << (i % 8));
        out.push(Buffer.concat([header, Buffer.from(`${prefix}${copy.toString("base64")}`, "latin1")]));
      }
      out.push(Buffer.concat([header, Buffer.from(`vault:v2:${body}`, "latin1")]));
      out.push(Buffer.concat([header, Buffer.from(`vault:v1:${sealed.subarray(0, 40).toString("base64")}`, "latin1")]));
      out.push(Buffer.concat([header, Buffer.from(text.slice(0, -4), "latin1")]));
      return out;
    },
    secrets: [VAULT_TOKEN],
  };
}

/** Everything an error shows: message, stack, inspect, JSON. */
function shown(e: unknown): string {
  return [String(e), (e as Error).stack ?? "", inspect(e, { depth: 5 }), JSON.stringify(e)].join("\n");
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let db: TestDb;
let q: Queryable;

useTestDb(
  ["keys"],
  (opened) => {
    ({ db, q } = opened);
  },
  async () => {
    await db.query("CREATE TABLE notes (id int PRIMARY KEY, tenant text NOT NULL, body text)");
  },
);

for (const harness of [awsHarness(), gcpHarness("rest"), gcpHarness("grpc"), vaultHarness()]) {
  describe(harness.name, () => {
    beforeAll(() => harness.start());
    afterAll(() => harness.stop());
    beforeEach(() => harness.setFault(undefined));

    const FAILED = { code: "ERR_UNWRAP_FAILED", message: `root key "${harness.id}" could not unwrap the data key` };

    it("round-trips a data key through the service, under a header naming the root key", async () => {
      const root = harness.provider();
      const dataKey = randomBytes(32);
      const before = harness.requestCount();
      const a = Buffer.from(await root.wrap(dataKey, AAD));
      const b = Buffer.from(await root.wrap(dataKey, AAD));
      expect(harness.requestCount() - before).toBe(2);
      expect(a.equals(b)).toBe(false);
      const header = `${harness.magic}\x01${String.fromCharCode(harness.id.length)}${harness.id}`;
      expect(a.subarray(0, header.length).toString("latin1")).toBe(header);
      expect(a.includes(dataKey)).toBe(false);
      expect(Buffer.from(await root.unwrap(a, AAD)).equals(dataKey)).toBe(true);
      expect(Buffer.from(await root.unwrap(b, AAD)).equals(dataKey)).toBe(true);
    });

    it("wrong AAD fails on the service's side with the opaque KeyUnwrapFailed", async () => {
      const root = harness.provider();
      const wrapped = await root.wrap(randomBytes(32), AAD);
      for (const aad of [Buffer.from("fieldcrypt-v1-data-key\0dk-1\0tenant-b"), Buffer.alloc(0)]) {
        const before = harness.requestCount();
        const e = await rejection(root.unwrap(wrapped, aad));
        expect({ code: e.code, message: e.message }).toEqual(FAILED);
        expect(e.cause).toBeUndefined();
        expect(harness.requestCount() - before).toBe(1); // the service itself refused
      }
    });

    it("tampered or truncated wrapped keys fail with the opaque KeyUnwrapFailed", async () => {
      const root = harness.provider();
      const wrapped = Buffer.from(await root.wrap(randomBytes(32), AAD));
      const cases = harness.tamper(wrapped);
      expect(cases.length).toBeGreaterThan(40);
      for (const bad of [...cases, wrapped.subarray(0, 3), Buffer.concat([Buffer.from("FCX"), wrapped.subarray(3)])]) {
        const e = await rejection(root.unwrap(bad, AAD));
        expect({ code: e.code, message: e.message }).toEqual(FAILED);
      }
    });

    it("names the root key a data key is wrapped with when it is another one", async () => {
      const wrapped = await harness.provider({ id: "other-root" }).wrap(randomBytes(32), AAD);
      expect(await rejection(harness.provider().unwrap(wrapped, AAD))).toMatchObject({
        code: "ERR_UNWRAP_FAILED",
        message: `the data key is wrapped by root key "other-root", not "${harness.id}"`,
      });
      const local = await localRootKey("local-1", keyBytes(1)).wrap(randomBytes(32), AAD);
      expect(await rejection(harness.provider().unwrap(local, AAD))).toMatchObject(FAILED);
    });

    it("service errors, throttling, resets, timeouts and a closed port are RootKeyUnavailable without secrets", async () => {
      const dataKey = randomBytes(32);
      const wrapped = await harness.provider().wrap(dataKey, AAD);
      const canaries = [
        ...harness.secrets,
        BODY_CANARY,
        dataKey.toString("hex"),
        dataKey.toString("base64"),
        Buffer.from(wrapped).toString("base64"),
      ];
      const errors: Error[] = [];
      for (const fault of ["internal", "denied", "throttled", "unavailable", "reset", "hang"] as const) {
        harness.setFault(fault);
        const root = harness.provider({ timeoutMs: 400 });
        for (const call of [() => root.unwrap(wrapped, AAD), () => root.wrap(dataKey, AAD)]) {
          const started = Date.now();
          const e = await rejection(call());
          expect(Date.now() - started).toBeLessThan(5_000);
          expect(e).toMatchObject({ code: "ERR_ROOT_KEY_UNAVAILABLE", rootKeyId: harness.id });
          const kind = /^root key "[^"]+" is unavailable \((.+)\)$/.exec(e.message)?.[1];
          expect({ fault, kind }).toEqual({ fault, kind: expect.stringMatching(harness.kinds[fault]) });
          if (typeof harness.kinds[fault] === "string") expect(kind).toBe(harness.kinds[fault]);
          expect(e.cause).toBeUndefined();
          errors.push(e);
        }
      }
      harness.setFault(undefined);
      const closed = harness.closedPortProvider(await closedPort());
      for (const call of [() => closed.unwrap(wrapped, AAD), () => closed.wrap(dataKey, AAD)]) {
        const e = await rejection(call());
        expect(e).toMatchObject({ code: "ERR_ROOT_KEY_UNAVAILABLE", rootKeyId: harness.id });
        expect(e.message).toMatch(/^root key "[^"]+" is unavailable \((.+)\)$/);
        expect(/\((.+)\)$/.exec(e.message)?.[1]).toMatch(harness.kinds.closed);
        errors.push(e);
      }
      for (const e of errors) {
        const text = shown(e);
        for (const canary of canaries) expect(text).not.toContain(canary);
      }
    });

    it("shows ids only in inspect, JSON and toString", () => {
      const root = harness.provider();
      const texts = [inspect(root, { depth: 10 }), inspect({ nested: root }), JSON.stringify(root), String(root)];
      for (const text of texts) {
        expect(text).toContain(harness.id);
        for (const secret of harness.secrets) expect(text).not.toContain(secret);
      }
      expect(JSON.parse(JSON.stringify(root))).toMatchObject({ id: harness.id });
    });

    it("end to end: createDataKey, loadKeyring, a cell, rotation from a local root key with rows untouched", async () => {
      await db.query("DELETE FROM fieldcrypt_keys");
      await db.query("DELETE FROM notes");
      const cloud = harness.provider();
      const local = localRootKey("local-1", keyBytes(0x31));
      const ctx = (id: number) => ({ scope: "tenant-a", table: "notes", column: "body", rowKey: id });
      const write = async (ring: Awaited<ReturnType<typeof loadKeyring>>, id: number, text: string) =>
        db.query("INSERT INTO notes (id, tenant, body) VALUES ($1, 'tenant-a', $2)", [
          id,
          encrypt(ring, text, ctx(id)),
        ]);
      const read = async (ring: Awaited<ReturnType<typeof loadKeyring>>, id: number) => {
        const [row] = await db.query<{ body: string }>("SELECT body FROM notes WHERE id = $1", [id]);
        return decrypt(ring, row?.body as string, ctx(id));
      };

      // A data key created under the cloud root key.
      const created = await createDataKey(q, cloud, "tenant-b");
      expect(created.rootKeyId).toBe(harness.id);
      const [row] = await db.query<{ wrapped_key: Uint8Array }>(
        "SELECT wrapped_key FROM fieldcrypt_keys WHERE id = $1",
        [created.id],
      );
      expect(
        Buffer.from(row?.wrapped_key as Uint8Array)
          .subarray(0, 3)
          .toString("latin1"),
      ).toBe(harness.magic);
      const ringB = await loadKeyring(q, cloud, { scopes: ["tenant-b"] });
      const cell = encrypt(ringB, "cloud-wrapped", { ...ctx(9), scope: "tenant-b" });
      expect(
        decrypt(await loadKeyring(q, cloud, { scopes: ["tenant-b"] }), cell, { ...ctx(9), scope: "tenant-b" }),
      ).toBe("cloud-wrapped");

      // Data keys under a local root key, with rows written, then rotated to the cloud root key.
      await createDataKey(q, local, "tenant-a");
      await write(await loadKeyring(q, local, { scopes: ["tenant-a"] }), 1, "first");
      await createDataKey(q, local, "tenant-a");
      await write(await loadKeyring(q, local, { scopes: ["tenant-a"] }), 2, "second");
      const rowsBefore = await db.query("SELECT * FROM notes ORDER BY id");
      const before = harness.requestCount();
      expect(await rotateRootKey(q, local, cloud, { batchSize: 1 })).toEqual({ rewrapped: 2 });
      expect(harness.requestCount() - before).toBe(2); // one wrap per data key
      expect(await db.query("SELECT * FROM notes ORDER BY id")).toEqual(rowsBefore);
      expect((await listDataKeys(q)).map((k) => k.rootKeyId)).toEqual([harness.id, harness.id, harness.id]);
      const ringA = await loadKeyring(q, cloud, { scopes: ["tenant-a"] });
      expect([await read(ringA, 1), await read(ringA, 2)]).toEqual(["first", "second"]);
      expect(await rejection(loadKeyring(q, local, { scopes: ["tenant-a"] }))).toMatchObject({
        code: "ERR_ROOT_KEY_UNAVAILABLE",
      });

      // A wrapped key moved to another scope's row fails on the service's side.
      await db.query(
        "UPDATE fieldcrypt_keys SET wrapped_key = (SELECT wrapped_key FROM fieldcrypt_keys WHERE id = $1) WHERE scope = 'tenant-a'",
        [created.id],
      );
      expect(await rejection(loadKeyring(q, cloud, { scopes: ["tenant-a"] }))).toMatchObject(FAILED);
    });
  });
}

describe("AWS KMS specifics", () => {
  const harness = awsHarness();
  let fake: FakeAwsKms;
  beforeAll(async () => {
    fake = await startFakeAwsKms();
  });
  afterAll(() => fake.close());
  const client = () =>
    new KMSClient({
      region: "us-east-1",
      endpoint: fake.endpoint,
      maxAttempts: 1,
      credentials: { accessKeyId: "AKIDCANARYEXAMPLE", secretAccessKey: AWS_SECRET },
    });

  it("sends KeyId and the AAD as the encryption context, signed with SigV4", async () => {
    const root = awsKmsRootKey({ keyId: AWS_ALIAS, client: client() });
    expect(root.id).toBe(AWS_ALIAS);
    const wrapped = await root.wrap(randomBytes(32), AAD);
    await root.unwrap(wrapped, AAD);
    const [enc, dec] = fake.requests.slice(-2);
    expect(enc?.target).toBe("TrentService.Encrypt");
    expect(enc?.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDCANARYEXAMPLE\/\d{8}\/us-east-1\/kms\/aws4_request/,
    );
    expect(enc?.body).toMatchObject({
      KeyId: AWS_ALIAS,
      EncryptionContext: { [AWS_AAD_CONTEXT_KEY]: AAD.toString("base64url") },
    });
    expect(dec?.target).toBe("TrentService.Decrypt");
    expect(dec?.body).toMatchObject({
      KeyId: AWS_ALIAS,
      EncryptionContext: { [AWS_AAD_CONTEXT_KEY]: AAD.toString("base64url") },
    });
    expect(JSON.stringify(fake.requests)).not.toContain(AWS_SECRET);
  });

  it("IncorrectKeyException (another KMS key under the same id) is KeyUnwrapFailed", async () => {
    const wrapped = await awsKmsRootKey({ id: "aws-1", keyId: AWS_KEY_ARN, client: client() }).wrap(
      randomBytes(32),
      AAD,
    );
    const other = awsKmsRootKey({ id: "aws-1", keyId: "alias/another-key", client: client() });
    expect(await rejection(other.unwrap(wrapped, AAD))).toMatchObject({ code: "ERR_UNWRAP_FAILED" });
    expect(fake.requests.at(-1)?.target).toBe("TrentService.Decrypt");
  });

  it("validates its options without echoing them", () => {
    expect(() => awsKmsRootKey({ keyId: "", client: client() })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: "keyId must be a non-empty string (got string)" }),
    );
    expect(() => awsKmsRootKey({ keyId: AWS_ALIAS, client: {} as never })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: "client must be a KMSClient (got object)" }),
    );
    expect(() => awsKmsRootKey({ id: "a b", keyId: AWS_ALIAS, client: client() })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_KEY" }),
    );
    expect(() => awsKmsRootKey({ keyId: AWS_ALIAS, client: client(), timeoutMs: 0 })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: "timeoutMs must be a positive integer" }),
    );
    expect(harness.name).toBe("AWS KMS");
  });
});

describe("Google Cloud KMS specifics", () => {
  let fake: FakeGcpKms;
  let client: KeyManagementServiceClient;
  beforeAll(async () => {
    fake = await startFakeGcpKms();
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: GCP_TOKEN, expiry_date: Date.now() + 3_600_000 });
    client = new KeyManagementServiceClient({
      fallback: true,
      apiEndpoint: "127.0.0.1",
      port: fake.port,
      protocol: "http",
      authClient,
    });
  });
  afterAll(async () => {
    await client.close();
    await fake.close();
  });

  it("computes CRC-32C (known answers)", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
  });

  it("sends the AAD and CRC-32C checksums, and checks the service's", async () => {
    const root = gcpKmsRootKey({ keyName: GCP_KEY_NAME, client });
    expect(root.id).toBe(GCP_KEY_NAME);
    const dataKey = randomBytes(32);
    const wrapped = await root.wrap(dataKey, AAD);
    await root.unwrap(wrapped, AAD);
    const [enc, dec] = fake.requests.slice(-2);
    expect(enc?.path).toBe(`/v1/${GCP_KEY_NAME}:encrypt`);
    expect(enc?.authorization).toBe(`Bearer ${GCP_TOKEN}`);
    expect(enc?.body).toEqual({
      plaintext: dataKey.toString("base64"),
      additionalAuthenticatedData: AAD.toString("base64"),
      plaintextCrc32c: String(crc32c(dataKey)),
      additionalAuthenticatedDataCrc32c: String(crc32c(AAD)),
    });
    expect(dec?.path).toBe(`/v1/${GCP_KEY_NAME}:decrypt`);
    expect(dec?.body).toMatchObject({ additionalAuthenticatedData: AAD.toString("base64") });
    fake.fault = "bad-checksum";
    try {
      for (const call of [() => root.wrap(dataKey, AAD), () => root.unwrap(wrapped, AAD)]) {
        expect(await rejection(call())).toMatchObject({
          code: "ERR_ROOT_KEY_UNAVAILABLE",
          message: `root key "${GCP_KEY_NAME}" is unavailable (checksum mismatch)`,
        });
      }
    } finally {
      fake.fault = undefined;
    }
  });

  it("a disabled key version (FAILED_PRECONDITION) is RootKeyUnavailable over gRPC; REST shows only its HTTP 400", async () => {
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: GCP_TOKEN, expiry_date: Date.now() + 3_600_000 });
    const grpcClient = new KeyManagementServiceClient({
      servicePath: "127.0.0.1",
      port: fake.grpcPort,
      sslCreds: grpc.credentials.createInsecure(),
      authClient,
    });
    try {
      const overGrpc = gcpKmsRootKey({ id: "gcp-1", keyName: GCP_KEY_NAME, client: grpcClient });
      const overRest = gcpKmsRootKey({ id: "gcp-1", keyName: GCP_KEY_NAME, client });
      const wrapped = await overGrpc.wrap(randomBytes(32), AAD);
      fake.fault = { status: 400, code: "FAILED_PRECONDITION", message: "CryptoKeyVersion is not enabled" };
      expect(await rejection(overGrpc.unwrap(wrapped, AAD))).toMatchObject({
        code: "ERR_ROOT_KEY_UNAVAILABLE",
        message: 'root key "gcp-1" is unavailable (FAILED_PRECONDITION)',
      });
      expect(await rejection(overRest.unwrap(wrapped, AAD))).toMatchObject({ code: "ERR_UNWRAP_FAILED" });
    } finally {
      fake.fault = undefined;
      await grpcClient.close();
    }
  });

  it("validates its options", () => {
    expect(() => gcpKmsRootKey({ keyName: "fieldcrypt", client })).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_OPTION",
        message: expect.stringContaining("keyName must look like"),
      }),
    );
    expect(() => gcpKmsRootKey({ keyName: GCP_KEY_NAME, client: { encrypt: () => 1 } as never })).toThrow(
      expect.objectContaining({ message: "client must be a KeyManagementServiceClient (got object)" }),
    );
  });
});

describe("Vault transit specifics", () => {
  let fake: FakeVault;
  beforeAll(async () => {
    fake = await startFakeVault({ keyName: "fieldcrypt/app" });
  });
  afterAll(() => fake.close());
  const options = () => ({ address: fake.address, token: VAULT_TOKEN, keyName: "fieldcrypt/app" });

  it("sends the token only as X-Vault-Token, the AAD as associated_data, and keeps vault:vN ciphertexts across rotation", async () => {
    const root = vaultTransitRootKey(options());
    expect(root.id).toBe("vault:transit/fieldcrypt/app");
    const dataKey = randomBytes(32);
    const v1 = await root.wrap(dataKey, AAD);
    expect(fake.requests.at(-1)).toEqual({
      path: "/v1/transit/encrypt/fieldcrypt%2Fapp",
      token: VAULT_TOKEN,
      namespace: undefined,
      body: { plaintext: dataKey.toString("base64"), associated_data: AAD.toString("base64") },
    });
    fake.rotate();
    const v2 = await root.wrap(dataKey, AAD);
    const text = (w: Uint8Array) =>
      Buffer.from(w)
        .subarray(5 + root.id.length)
        .toString("latin1");
    expect(text(v1)).toMatch(/^vault:v1:[A-Za-z0-9+/]+=*$/);
    expect(text(v2)).toMatch(/^vault:v2:/);
    expect(Buffer.from(await root.unwrap(v1, AAD)).equals(dataKey)).toBe(true);
    expect(Buffer.from(await root.unwrap(v2, AAD)).equals(dataKey)).toBe(true);
    expect(fake.requests.at(-1)?.body).toEqual({ ciphertext: text(v2), associated_data: AAD.toString("base64") });
  });

  it("asks getToken for every request; a wrong token is 403, a failing getToken is RootKeyUnavailable", async () => {
    const tokens = [VAULT_TOKEN, "hvs.CANARY-expired-token"];
    let calls = 0;
    const root = vaultTransitRootKey({
      ...options(),
      token: undefined,
      getToken: async () => tokens[calls++] as string,
    });
    const wrapped = await root.wrap(randomBytes(32), AAD);
    const e = await rejection(root.unwrap(wrapped, AAD));
    expect(e).toMatchObject({
      code: "ERR_ROOT_KEY_UNAVAILABLE",
      message: `root key "${root.id}" is unavailable (HTTP 403)`,
    });
    expect(shown(e)).not.toContain("CANARY");
    const failing = vaultTransitRootKey({
      ...options(),
      token: undefined,
      getToken: () => {
        throw new Error(`no token ${VAULT_TOKEN}`);
      },
    });
    const e2 = await rejection(failing.wrap(randomBytes(32), AAD));
    expect(e2).toMatchObject({ message: `root key "${failing.id}" is unavailable (getToken: error)` });
    expect(shown(e2)).not.toContain("CANARY");
  });

  it("maps the 500 'cipher: message authentication failed' of Vault 1.4-1.6 to KeyUnwrapFailed; other 500s and 400s are unavailable", async () => {
    const root = vaultTransitRootKey(options());
    const wrapped = await root.wrap(randomBytes(32), AAD);
    fake.fault = { status: 500, errors: ["1 error occurred:\n\t* cipher: message authentication failed\n\n"] };
    expect(await rejection(root.unwrap(wrapped, AAD))).toMatchObject({ code: "ERR_UNWRAP_FAILED" });
    fake.fault = { status: 400, errors: ["encryption key not found"] };
    expect(await rejection(root.unwrap(wrapped, AAD))).toMatchObject({
      code: "ERR_ROOT_KEY_UNAVAILABLE",
      message: `root key "${root.id}" is unavailable (HTTP 400)`,
    });
    fake.fault = undefined;
  });

  it("refuses a transit engine that ignores associated_data (before Vault 1.13) instead of wrapping without AAD", async () => {
    const old = await startFakeVault({ keyName: "fieldcrypt", ignoresAssociatedData: true });
    try {
      const root = vaultTransitRootKey({ address: old.address, token: VAULT_TOKEN, keyName: "fieldcrypt" });
      expect(await rejection(root.wrap(randomBytes(32), AAD))).toMatchObject({
        code: "ERR_ROOT_KEY_UNAVAILABLE",
        message: `root key "${root.id}" is unavailable (associated_data not supported by this transit engine)`,
      });
      expect(old.requests).toHaveLength(1);
    } finally {
      await old.close();
    }
  });

  it("validates its options without echoing the token", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ token: undefined }, "give exactly one of token and getToken"],
      [{ getToken: () => "x" }, "give exactly one of token and getToken"],
      [{ token: `${VAULT_TOKEN}\n` }, "token must be a non-empty one-line string (got string)"],
      [{ address: "ftp://vault" }, "address must be an http:// or https:// URL without credentials"],
      [
        { address: `http://user:${VAULT_TOKEN}@vault` },
        "address must be an http:// or https:// URL without credentials",
      ],
      [{ address: "not a url" }, "address must be an http:// or https:// URL"],
      [{ mount: "a//b" }, "mount must be a path like transit or team/transit"],
    ];
    for (const [override, message] of cases) {
      expect(() => vaultTransitRootKey({ ...options(), ...override } as never)).toThrow(
        expect.objectContaining({ code: "ERR_INVALID_OPTION", message }),
      );
    }
  });
});
