#!/usr/bin/env node
import { main } from "../appliance/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
