/**
 * A form generated from a pydantic JSON Schema: one input per property, secrets (writeOnly or
 * format "password", also inside an Optional's anyOf) as password inputs, numbers as numbers,
 * booleans as checkboxes, lists and objects as JSON. Empty optional fields are left out.
 */

import type { JsonSchema } from "../api/types";

export type FormValues = Record<string, string | boolean>;

/** The schema of a field with `Optional[...]`'s null branch taken away. */
function concrete(schema: JsonSchema): JsonSchema {
  const branch = schema.anyOf?.find((option) => option.type !== "null");
  return branch ? { ...schema, ...branch, anyOf: undefined } : schema;
}

/** Arrays and objects are edited as JSON text. */
function isStructured(field: JsonSchema): boolean {
  return field.type === "array" || field.type === "object";
}

export function isSecret(schema: JsonSchema): boolean {
  const field = concrete(schema);
  return field.writeOnly === true || field.format === "password";
}

export function initialValues(schema: JsonSchema, current: Record<string, unknown> = {}): FormValues {
  const values: FormValues = {};
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const field = concrete(property);
    const value = current[name] ?? (isSecret(property) ? undefined : field.default);
    if (field.type === "boolean") values[name] = Boolean(value);
    else if (value === undefined || value === null) values[name] = "";
    else values[name] = isStructured(field) ? JSON.stringify(value) : String(value);
  }
  return values;
}

/**
 * The form's values as the JSON the host validates; blank optional fields omitted. JSON
 * fields that do not parse are sent as typed, for the host to name in its 422.
 */
export function toJson(schema: JsonSchema, values: FormValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const field = concrete(property);
    const value = values[name];
    if (field.type === "boolean") out[name] = Boolean(value);
    else if (value === "" || value === undefined) continue;
    else if (field.type === "integer" || field.type === "number") out[name] = Number(value);
    else if (isStructured(field)) out[name] = parseOrKeep(String(value));
    else out[name] = value;
  }
  return out;
}

function parseOrKeep(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function SchemaFields({
  schema,
  values,
  onChange,
  testIdPrefix,
}: {
  schema: JsonSchema;
  values: FormValues;
  onChange: (values: FormValues) => void;
  testIdPrefix: string;
}) {
  const required = new Set(schema.required ?? []);
  return (
    <>
      {Object.entries(schema.properties ?? {}).map(([name, property]) => {
        const field = concrete(property);
        const label = `${field.title ?? name}${required.has(name) ? " *" : ""}`;
        const testId = `${testIdPrefix}-${name}`;
        if (field.type === "boolean") {
          return (
            <label key={name} className="field checkbox" title={field.description}>
              <input
                type="checkbox"
                data-testid={testId}
                checked={Boolean(values[name])}
                onChange={(event) => onChange({ ...values, [name]: event.target.checked })}
              />
              {label}
            </label>
          );
        }
        const type = isSecret(property) ? "password" : field.type === "integer" || field.type === "number" ? "number" : "text";
        const hint = isStructured(field) ? `${field.description ?? ""} (JSON)`.trim() : (field.description ?? "");
        return (
          <label key={name} className="field" title={field.description}>
            <span>{label}</span>
            <input
              type={type}
              data-testid={testId}
              required={required.has(name)}
              placeholder={hint}
              value={String(values[name] ?? "")}
              autoComplete={type === "password" ? "new-password" : "off"}
              onChange={(event) => onChange({ ...values, [name]: event.target.value })}
            />
          </label>
        );
      })}
    </>
  );
}
