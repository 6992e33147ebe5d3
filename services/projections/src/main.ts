// Projections as its own process: `npm run start:projections` (configuration from the environment).
import { startServices } from '@onestop/kit';
import { projectionsModule } from './app.js';

await startServices('projections', [projectionsModule()]);
