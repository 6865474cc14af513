/** The message of anything thrown, for logs and step outputs. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
