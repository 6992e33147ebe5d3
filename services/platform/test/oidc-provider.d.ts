// oidc-provider ships no type declarations (the test only uses its constructor, listen and callback)
declare module 'oidc-provider';
