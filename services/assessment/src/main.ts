// Assessment as its own process: `npm run start -w @onestop/assessment` (configuration from the environment).
import { startServices } from '@onestop/kit';
import { assessmentModule } from './app.js';

await startServices('assessment', [assessmentModule()]);
