// Kept equal to package.json's version by a test (spec/package.spec.ts).
export const VERSION = '0.1.0';
