/**
 * The signed-in user's role (docs: WEB_CONTRACT / docs/supabase-setup.md): set by an admin in
 * `app_metadata.ml_role`, which users cannot change. `viewer` reads and queues low/normal
 * requests; `operator` may also ask for high priority. No role, or an anonymous sign-in,
 * reads nothing (RLS returns no rows) and cannot queue requests.
 */
import type { Session } from '@supabase/auth-js';
import type { Priority } from './types';

export type Role = 'viewer' | 'operator' | null;

/**
 * Where an admin learns to grant a role: docs/supabase-setup.md, section "Grant access". Set
 * VITE_DOCS_BASE_URL (e.g. https://github.com/<org>/<repo>/blob/main/) at build time to link
 * to the repository's copy; without it the link is relative to the page.
 */
export const ROLES_DOC_PATH = 'docs/supabase-setup.md#grant-access';
export const ROLES_DOC_URL: string = `${(import.meta.env.VITE_DOCS_BASE_URL as string | undefined) ?? ''}${ROLES_DOC_PATH}`;

export function roleOf(session: Session | null | undefined): Role {
  const user = session?.user;
  if (!user || (user as { is_anonymous?: boolean }).is_anonymous) return null;
  const role = (user.app_metadata as Record<string, unknown> | undefined)?.ml_role;
  return role === 'viewer' || role === 'operator' ? role : null;
}

export function allowedPriorities(role: Role): Priority[] {
  if (role === 'operator') return ['low', 'normal', 'high'];
  if (role === 'viewer') return ['low', 'normal'];
  return [];
}
