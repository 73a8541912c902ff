// A small client written against the types openapi-typescript generates from
// /api/openapi.json. tests/e2e/contract/test_generated_clients.py writes them to
// api.d.ts beside a copy of this file and runs `tsc --noEmit --strict` on it:
// every line here is a promise the document makes to TypeScript clients.
import type { components, operations, paths } from "./api";

type Json<T> = T extends { content: { "application/json": infer Body } } ? Body : never;

export type UserOut = components["schemas"]["UserOut"];
export type UserPatch = components["schemas"]["UserPatch"];
export type GetUserResponse = Json<paths["/api/users/{user_id}"]["get"]["responses"][200]>;
export type UserId = operations["getUser"]["parameters"]["path"]["user_id"];

/** GET /api/users/{user_id}, answered by a UserOut. */
export async function getUser(baseUrl: string, token: string, userId: UserId): Promise<UserOut> {
  const response = await fetch(`${baseUrl}/api/users/${userId}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (!response.ok) {
    throw new Error(`GET /api/users/${userId} answered ${response.status}`);
  }
  const user: GetUserResponse = await response.json();
  return user;
}

/** `age` is nullable, and strict mode makes a caller handle its null. */
export function describeUser(user: UserOut): string {
  const age: number | null = user.age;
  const id: number = user.id;
  return `#${id} ${user.name} <${user.email}>` + (age === null ? "" : `, ${age}`);
}

// PATCH bodies: each field optional, only `age` nullable, no unknown field.
export const rename: UserPatch = { name: "Ann Lee" };
export const clearAge: UserPatch = { age: null };
// @ts-expect-error `name` may not be null
export const nullName: UserPatch = { name: null };
// @ts-expect-error an unknown field is refused
export const unknownField: UserPatch = { nickname: "Ann" };

// Utilities answer `{"result": ...}` typed by the function's return value.
export type SlugifyResult = Json<paths["/api/utilities/slugify"]["post"]["responses"][200]>;
export type PrimeFactorsResult = Json<
  paths["/api/utilities/prime_factors"]["post"]["responses"][200]
>;

export function slugOf(answer: SlugifyResult): string {
  return answer.result;
}

export function productOf(answer: PrimeFactorsResult): number {
  return answer.result.reduce((product: number, factor: number) => product * factor, 1);
}

// Jobs: submitted with the function's arguments, polled, cancelled.
export type CountPrimesArgs = Json<
  paths["/api/utilities/count_primes/jobs"]["post"]["requestBody"]
>;
export const submission: CountPrimesArgs = { limit: 1_000_000 };
export type SubmittedJob = Json<
  paths["/api/utilities/count_primes/jobs"]["post"]["responses"][202]
>;
export type Job = Json<paths["/api/jobs/{job_id}"]["get"]["responses"][200]>;
export type CancelledJob = Json<paths["/api/jobs/{job_id}/cancel"]["post"]["responses"][200]>;

/** Whether a job has stopped for good; the switch covers every status. */
export function isFinished(job: SubmittedJob | Job | CancelledJob): boolean {
  switch (job.status) {
    case "queued":
    case "running":
      return false;
    case "succeeded":
    case "failed":
    case "cancelled":
      return true;
    default: {
      const unknown: never = job.status;
      return unknown;
    }
  }
}
