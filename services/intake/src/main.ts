// Intake as its own process: `npm run start:intake` (configuration from the environment).
import { startServices } from '@onestop/kit';
import { intakeModule } from './app.js';

await startServices('intake', [intakeModule()]);
