// Loaded with `node --import` into ../shared/bench/apply-bench.mjs by
// scripts/bench.sh, so that the unmodified script also yields CPU times:
// apply-bench reads process.hrtime.bigint() only right before and after each
// timed run, so this records the process's CPU time (user + system, all
// threads, in microseconds) at every such read and writes the list to
// $RTPM_CPU_CLOCK_OUT at exit. Wall times are untouched.
import fs from 'node:fs';

const out = process.env.RTPM_CPU_CLOCK_OUT;
if (out) {
  const wallClock = process.hrtime.bigint;
  const readings = [];
  process.hrtime.bigint = () => {
    const used = process.cpuUsage();
    readings.push(used.user + used.system);
    return wallClock();
  };
  process.on('exit', () => fs.writeFileSync(out, JSON.stringify(readings)));
}
