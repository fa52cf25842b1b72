#!/usr/bin/env node
// The rospki command. The TypeScript sources are compiled to dist/ by `npm install` (the
// "prepare" script), so a user never runs a build step by hand.
import '../dist/cli.js';
