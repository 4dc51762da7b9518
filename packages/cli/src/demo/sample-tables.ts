/** A row of a demo table: an integer primary key `id` and text columns. */
export type DemoRow = { readonly id: number } & Readonly<Record<string, string | number>>;

/** A table like the ones the apps we serve keep, with the columns they need encrypted. */
export interface DemoTable {
  readonly name: string;
  /** What the table holds, for the output. */
  readonly about: string;
  /** The tenant/subject column: its value is the cell scope. */
  readonly scopeColumn: string;
  /** Columns left in plaintext besides `id` and the scope. */
  readonly plainColumns: readonly string[];
  /** Columns encrypted in place. */
  readonly encryptedColumns: readonly string[];
  readonly rows: readonly DemoRow[];
}

// Invented people and invented keys: nothing here is real, and the keys are not in any provider's format.
export const SAMPLE_TABLES: readonly DemoTable[] = [
  {
    name: "clinic_notes",
    about: "a clinic's visit notes (PHI)",
    scopeColumn: "clinic_id",
    plainColumns: [],
    encryptedColumns: ["patient_name", "note"],
    rows: [
      { id: 1, clinic_id: "clinic-7", patient_name: "Maria Gonzalez", note: "BP 142/91; started lisinopril 10 mg" },
      { id: 2, clinic_id: "clinic-7", patient_name: "James O'Neill", note: "Penicillin allergy; rash resolved" },
      { id: 3, clinic_id: "clinic-9", patient_name: "Aiko Tanaka", note: "Prenatal visit, week 20: all normal" },
    ],
  },
  {
    name: "journal_entries",
    about: "a journaling app's entries and voice-note transcripts",
    scopeColumn: "user_id",
    plainColumns: [],
    encryptedColumns: ["body", "transcript"],
    rows: [
      {
        id: 1,
        user_id: "user-41",
        body: "Couldn't sleep again. Therapy helped.",
        transcript: "I think I'm ready to tell my sister",
      },
      {
        id: 2,
        user_id: "user-58",
        body: "Got the offer! Moving to Denver.",
        transcript: "Nervous about telling my manager",
      },
    ],
  },
  {
    name: "user_api_keys",
    about: "users' own third-party API keys",
    scopeColumn: "user_id",
    plainColumns: ["provider"],
    encryptedColumns: ["api_key"],
    rows: [
      { id: 1, user_id: "user-41", provider: "openai", api_key: "sk-demo-4f3c9a7e1b5d2c8a6e0f9b3d" },
      { id: 2, user_id: "user-58", provider: "anthropic", api_key: "sk-demo-8e2b6d0f4a9c3e7b1d5fa2c6" },
    ],
  },
];
