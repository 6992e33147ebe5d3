// Referral as its own process: `npm run start:referral` (configuration from the environment).
import { startServices } from '@onestop/kit';
import { referralModule } from './app.js';

await startServices('referral', [referralModule()]);
