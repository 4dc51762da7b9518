/**
 * The audit log: `fieldcrypt/audit`. An append-only table `fieldcrypt_audit` in which every entry
 * carries HMAC-SHA256(auditKey, canonical encoding of the entry and the previous entry's MAC), so
 * that an edited, deleted, reordered or inserted entry breaks the chain and {@link verifyAudit}
 * says where and how. Entries hold identifiers and counts, never key material or plaintext. A head
 * (`fieldcrypt-audit-head:v1:<seq>:<mac>`) kept outside the database anchors the end of the chain.
 *
 * @module
 */

export { AuditHeadMismatch, AuditKeyMismatch } from "../errors/index.js";
export { ACTOR_RULE, resolveActor } from "./actor.js";
export { type AppendAuditResult, type AuditEntry, appendAudit } from "./append.js";
export { Auditor, type AuditorOptions, createAuditor } from "./auditor.js";
export { AUDIT_HEAD_RULE, type AuditHead, formatAuditHead, parseAuditHead, readAuditHead } from "./head.js";
export { AUDIT_TABLE_SQL, createAuditTable, ensureAuditTable } from "./table.js";
export { type AuditFailure, type VerifyAuditOptions, type VerifyAuditResult, verifyAudit } from "./verify.js";
