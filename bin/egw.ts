#!/usr/bin/env node
import { endQuietlyOnClosedPipe } from "../appliance/terminal/io.js";
import { egw } from "./dispatch.js";

endQuietlyOnClosedPipe();
process.exitCode = await egw(process.argv.slice(2));
