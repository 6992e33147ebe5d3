import type { ServiceModule } from '@onestop/kit';
import { intakeModule } from '@onestop/intake';
import { assessmentModule } from '@onestop/assessment';
import { referralModule } from '@onestop/referral';
import { projectionsModule } from '@onestop/projections';
import { consoleModule } from './console/module.js';

/** Every service of OneStop, as mounted by `npm start`, and the work console. */
export function allModules(): ServiceModule[] {
  return [intakeModule(), assessmentModule(), referralModule(), projectionsModule(), consoleModule()];
}

/** The referral module among them (its use cases serve the CLI and the demo). */
export function referralOf(modules: readonly ServiceModule[]): ReturnType<typeof referralModule> {
  const m = modules.find((x) => x.name === 'referral');
  if (!m) throw new Error('the referral module is not mounted');
  return m as ReturnType<typeof referralModule>;
}
