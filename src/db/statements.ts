import type { Statement } from "better-sqlite3";
import { getTableColumns, sql, type Name, type SQL } from "drizzle-orm";
import { SQLiteSyncDialect, type SQLiteColumn, type SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Db } from "./store.ts";

const dialect = new SQLiteSyncDialect();

/**
 * The text of a statement written as drizzle `sql` with the table and column objects
 * interpolated, so renaming a column fails the typecheck. Values are not interpolated but
 * written as `?` or `@name` and bound when it runs, so the text is built once (at module
 * load) and the hot paths prepare plain strings as before.
 */
export function sqlText(query: SQL): string {
  const built = dialect.sqlToQuery(query);
  if (built.params.length > 0) throw new Error(`sqlText: bind values when the statement runs, not in its text: ${built.sql}`);
  return built.sql;
}

/** A column by its bare name, for SET, INSERT and ON CONFLICT lists, where SQLite takes no table prefix. */
export function bare(column: SQLiteColumn): Name {
  return sql.identifier(column.name);
}

/** Columns by bare name, comma-separated: an INSERT's column list. */
export function columnList(columns: readonly SQLiteColumn[]): SQL {
  return sql.join(columns.map(bare), sql`, `);
}

/** `@property` for each of `columns` (keyed by property), in their order: the VALUES of an INSERT bound from an object. */
export function namedParameters(columns: Record<string, SQLiteColumn>): SQL {
  return sql.raw(
    Object.keys(columns)
      .map((property) => `@${property}`)
      .join(", "),
  );
}

/** `column = @property` for each of `columns` (keyed by property): the SET of an UPDATE bound from an object. */
export function assignNamed(columns: Record<string, SQLiteColumn>): SQL {
  return sql.join(
    Object.entries(columns).map(([property, column]) => sql`${bare(column)} = ${sql.raw(`@${property}`)}`),
    sql`, `,
  );
}

/**
 * `column = ?` for each of `columns`, in order: the SET of an UPDATE run once per row on a hot
 * path, bound by position (better-sqlite3 binds by name half as fast: 2,000 audited rows took
 * 17–21 ms named against 9–11 ms by position here).
 */
export function assignPositional(columns: readonly SQLiteColumn[]): SQL {
  return sql.join(
    columns.map((column) => sql`${bare(column)} = ?`),
    sql`, `,
  );
}

/** `column = excluded.column` for each column: the SET of an upsert that takes the new values. */
export function setExcluded(columns: readonly SQLiteColumn[]): SQL {
  return sql.join(
    columns.map((column) => sql`${bare(column)} = excluded.${bare(column)}`),
    sql`, `,
  );
}

/**
 * Each column of `table` (an `alias()` of one, usually) as its qualified SQL text, `"a"."name"`:
 * for WHERE fragments composed as strings on the read paths, still named through the schema.
 */
export function columnTexts<T extends SQLiteTable>(table: T): Record<keyof T["_"]["columns"], string> {
  return Object.fromEntries(
    Object.entries(getTableColumns(table)).map(([property, column]) => [property, sqlText(sql`${column}`)]),
  ) as Record<keyof T["_"]["columns"], string>;
}

/**
 * `alias."column" AS "property"` for every column of `table`: a row under its drizzle property
 * names; `computed` gives some properties an expression of their own instead of the column.
 */
export function columnsAs(table: SQLiteTable, alias: string, computed: Record<string, string> = {}): string {
  return Object.entries(getTableColumns(table))
    .map(([property, column]) => `${computed[property] ?? `${alias}."${column.name}"`} AS "${property}"`)
    .join(", ");
}

const statementCaches = new WeakMap<object, Map<string, Statement>>();
const rawStatementCaches = new WeakMap<object, Map<string, Statement>>();
const maxCachedStatements = 256;

/**
 * Prepares `sql` once per connection. Read queries are built from a handful of filter
 * shapes, so caching by text saves the parse on every request without growing unbounded.
 */
export function cachedStatement(db: Db, sql: string): Statement {
  return cachedIn(statementCaches, db, sql, (statement) => statement);
}

function cachedIn(
  caches: WeakMap<object, Map<string, Statement>>,
  db: Db,
  sql: string,
  setUp: (statement: Statement) => Statement,
): Statement {
  let cache = caches.get(db.$client);
  if (!cache) {
    cache = new Map();
    caches.set(db.$client, cache);
  }
  let statement = cache.get(sql);
  if (!statement) {
    if (cache.size >= maxCachedStatements) cache.clear();
    statement = setUp(db.$client.prepare(sql));
    cache.set(sql, statement);
  }
  return statement;
}

const rowBuilders = new WeakMap<Statement, (values: unknown[]) => Record<string, unknown>>();

/**
 * Every row of `sql`, as objects of one fixed shape. better-sqlite3 builds each row
 * object key by key; reading arrays and building them with one compiled object literal takes
 * a page of 50 image rows (26 columns) from about 400 to 230 µs, and leaves the GC one hidden class.
 * The arrays come from statements of their own, prepared in raw mode once.
 */
export function allRows(db: Db, sql: string, params: readonly unknown[]): Record<string, unknown>[] {
  const statement = cachedIn(rawStatementCaches, db, sql, (prepared) => prepared.raw(true));
  let build = rowBuilders.get(statement);
  if (!build) {
    // The names are the statement's own column names, quoted by JSON.stringify as property keys.
    const properties = statement.columns().map((column, i) => `${JSON.stringify(column.name)}: values[${i}]`);
    build = new Function("values", `return { ${properties.join(", ")} };`) as (values: unknown[]) => Record<string, unknown>;
    rowBuilders.set(statement, build);
  }
  return (statement.all(...params) as unknown[][]).map(build);
}

/** A WHERE fragment and its positional parameters. */
export interface SqlFragment {
  sql: string;
  params: unknown[];
}

export function andAll(fragments: SqlFragment[]): SqlFragment {
  if (fragments.length === 0) return { sql: "1", params: [] };
  return { sql: fragments.map((f) => `(${f.sql})`).join(" AND "), params: fragments.flatMap((f) => f.params) };
}

/** A LIKE pattern that matches `text` anywhere, with `\` as the escape character. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Binds a list as one JSON parameter (`IN (SELECT value FROM json_each(?))`) so the SQL text stays the same for any length. */
export function jsonList(values: readonly unknown[]): string {
  return JSON.stringify(values);
}
