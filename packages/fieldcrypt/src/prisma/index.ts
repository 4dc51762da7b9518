/**
 * Prisma 7: `fieldcrypt/prisma`. A client extension that encrypts fields on every write and
 * decrypts them on every read, driven by the same {@link EncryptedTable} configuration as the other
 * adapters, and a filter helper to search through blind indexes.
 *
 * Bound per cell: table and column, the row's primary key and its scope (a column of the row, or
 * the caller's scope context), as the table names them. Prisma only ever sees cells and blind-index
 * values — never plaintext, which its query errors would otherwise print.
 *
 * @example
 * ```ts
 * import { blindIndexIn, fieldcryptExtension } from "fieldcrypt/prisma";
 * const prisma = new PrismaClient({ adapter }).$extends(fieldcryptExtension({ models: { Patient: patients } }));
 * const found = await prisma.patient.findMany({
 *   where: { clinicId, emailBidx: blindIndexIn(patients, "email", email, { scope: clinicId }) },
 * });
 * ```
 *
 * @module
 */
export { blindIndexIn } from "./blind-index-in.js";
export { type FieldcryptExtensionOptions, type FieldcryptPrismaExtension, fieldcryptExtension } from "./extension.js";
