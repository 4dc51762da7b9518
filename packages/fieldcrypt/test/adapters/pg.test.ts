// fieldcrypt/pg through the conformance suite: hand-written SQL, as an app writes it with
// node-postgres (on the server) or the same statements on PGlite.
import pg from "pg";
import { decryptRows, insertStatement, type Queryable, queryRows, updateStatement } from "../../src/pg/index.js";
import { type ConformanceDriver, type DriverFactory, type Patient, runConformance, type Visit } from "./conformance.js";

const pgFactory: DriverFactory = {
  name: "node-postgres (fieldcrypt/pg)",
  binding: { rowKey: true, scope: "column" },
  async open({ db, patients, visits }) {
    let client: Queryable;
    let end: () => Promise<void>;
    if (db.pglite !== undefined) {
      client = db.pglite;
      end = async () => {};
    } else {
      const pool = new pg.Pool({ connectionString: db.connectionString, max: 2 });
      client = pool;
      end = () => pool.end();
    }
    const driver: ConformanceDriver = {
      async insert(patient) {
        const { text, values } = insertStatement(patients, { ...patient });
        await client.query(text, values);
      },
      async insertMany(list) {
        for (const patient of list) await driver.insert(patient);
      },
      async findById(id) {
        const rows = await queryRows<Record<string, unknown>>(
          client,
          patients,
          "SELECT * FROM patients WHERE id = $1",
          [id],
        );
        return rows[0] === undefined ? null : toPatient(rows[0]);
      },
      async findByEmail(clinicId, email) {
        const rows = await queryRows<Record<string, unknown>>(
          client,
          patients,
          "SELECT * FROM patients WHERE clinic_id = $1 AND email_bidx = ANY($2::text[]) ORDER BY id",
          [clinicId, patients.searchValues("email", email, { scope: clinicId })],
        );
        return rows.map(toPatient);
      },
      async update(id, clinicId, patch) {
        const { text, values } = updateStatement(patients, { id, clinic_id: clinicId }, patch);
        await client.query(text, values);
      },
      async remove(id) {
        await client.query("DELETE FROM patients WHERE id = $1", [id]);
      },
      async insertVisit(visit) {
        const { text, values } = insertStatement(visits, { ...visit });
        await client.query(text, values);
      },
      async findPatientWithVisits(id) {
        const patient = await driver.findById(id);
        if (patient === null) return null;
        const { rows } = await client.query("SELECT * FROM visits WHERE patient_id = $1 ORDER BY id", [id]);
        return { ...patient, visits: decryptRows(visits, rows as Record<string, unknown>[]) as unknown as Visit[] };
      },
      close: end,
    };
    return driver;
  },
};

/** Decrypted columns come back typed; the rest as the driver returns them. */
function toPatient(row: Record<string, unknown>): Patient {
  return row as unknown as Patient;
}

runConformance(pgFactory);

// The same helpers with the scope taken from the async context and no row binding: the binding a
// column-type adapter has, exercised here so the suite's weaker expectations are tested too.
runConformance({
  ...pgFactory,
  name: "node-postgres, scope from context",
  binding: { rowKey: false, scope: "context" },
});
