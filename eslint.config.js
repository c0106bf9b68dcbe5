// Lint rules: typed linting with the floating-promise rules on, over every TypeScript file.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'perf/results/**', 'coverage/**', '.tap/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // tap's t.test() returns a promise that tap itself awaits
        { allowForKnownSafeCalls: [{ from: 'package', package: '@tapjs/test', name: ['test', 'skip', 'todo', 'only'] }, { from: 'package', package: '@tapjs/core', name: ['test', 'skip', 'todo', 'only'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    // the layers: workers/ never reaches into src/; src/ reaches workers/ only through its protocol
    files: ['workers/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/src/**', '../src/*'], message: 'workers/ never imports from src/ (use workers/protocol.ts types)' }] }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/http/uws.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'uWebSockets.js', message: 'only src/http/uws.ts imports uWebSockets.js' }],
        patterns: [{ group: ['**/workers/*', '!**/workers/protocol.js'], message: 'src/ imports workers/ only through workers/protocol.ts' }],
      }],
    },
  },
  {
    files: ['perf/k6/**/*.ts', 'perf/k6/**/*.js'],
    languageOptions: { parserOptions: { projectService: false, project: './perf/k6/tsconfig.json' } },
  },
);
