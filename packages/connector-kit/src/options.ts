/** Boundary checks for connector options: every problem is reported at once, by field name. */
import { ConfigError, type ConfigIssue } from '@millrace/core';

export interface OptionRule {
  path: string;
  value: unknown;
  kind: 'string' | 'positive-integer' | 'non-negative-number';
  optional?: boolean;
}

export function checkOptions(subject: string, rules: readonly OptionRule[]): void {
  const issues: ConfigIssue[] = [];
  for (const rule of rules) {
    if (rule.value === undefined) {
      if (!rule.optional) issues.push({ path: rule.path, message: 'is required' });
      continue;
    }
    if (rule.kind === 'string' && !(typeof rule.value === 'string' && rule.value.length > 0)) {
      issues.push({ path: rule.path, message: 'must be a non-empty string' });
    } else if (
      rule.kind === 'positive-integer' &&
      !(typeof rule.value === 'number' && Number.isInteger(rule.value) && rule.value > 0)
    ) {
      issues.push({ path: rule.path, message: 'must be a positive integer' });
    } else if (rule.kind === 'non-negative-number' && !(typeof rule.value === 'number' && rule.value >= 0)) {
      issues.push({ path: rule.path, message: 'must be zero or a positive number' });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues, { subject });
}
