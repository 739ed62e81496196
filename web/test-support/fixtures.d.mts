// Types for fixtures.mjs.
/* eslint-disable @typescript-eslint/no-explicit-any */
import type { FakeUser } from './fake-supabase.mjs';
export const USER: FakeUser;
export const OTHER_USER: FakeUser;
export const VIEWER: FakeUser;
export const NO_ROLE_USER: FakeUser;
export function runId(n: number): string;
export function buildRuns(now: number): any[];
export function buildModelVersions(runs: any[]): any[];
export function logObjects(runs: any[]): string[];
export function makeRun(overrides?: Record<string, unknown>): any;
export function metricsFor(acc: number, base: number | null, promoted: boolean, extra?: object): any;
