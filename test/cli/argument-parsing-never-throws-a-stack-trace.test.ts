import fc from 'fast-check';
import { describe, it } from 'vitest';
import { parse as parseBench } from '../../src/cli/bench.js';
import { parse as parseDemo } from '../../src/cli/demo.js';
import { parse as parseEval } from '../../src/cli/eval.js';
import { parse as parseImage } from '../../src/cli/image.js';
import { parse as parseRecord } from '../../src/cli/record.js';
import { parse as parseSoak } from '../../src/cli/soak.js';
import { parse as parseSummary } from '../../src/cli/summary.js';
import { parse as parseTrain } from '../../src/cli/train.js';
import { expectFailure, returnsOrRefuses, runCli } from './helpers.js';

/** Each command's options, as a user might type them (and mistype them). */
const FLAGS: Record<string, string[]> = {
  record: ['--target', '--all', '--out', '-o', '--duration', '-d', '--force', '--ring', '--help', '-h'],
  summary: ['--json', '--help'],
  train: ['--target', '--from', '--duration', '-d', '--model', '-m', '--force', '--detector', '--window', '-w', '--filter', '--false-alarms', '--frame', '--seed', '--help'],
  eval: ['--normal', '--attack', '--window', '--detector', '--filter', '--split', '--seed', '--false-alarms', '--frame', '--threat-table', '--format', '--lenient', '--json', '--force', '--help'],
  soak: ['--minutes', '--out', '--force', '--help'],
  bench: ['--quick', '--runs', '--workloads', '--configs', '--parts', '--out', '--force', '--help'],
  demo: ['--json', '--learn', '--normal', '--help'],
  image: ['build', 'manifest', 'docker-run', '--image', '--help'],
};

const PARSERS: Record<string, (argv: string[]) => unknown> = {
  record: parseRecord,
  summary: parseSummary,
  train: parseTrain,
  eval: parseEval,
  soak: parseSoak,
  bench: parseBench,
  demo: parseDemo,
  image: parseImage,
};

/** Values that have broken parsers: signs, exponents, hex, huge, empty, option-like, unicode. */
const value = fc.oneof(
  fc.constantFrom('-5', '-0', '0', '1', '2048', '4096', '1e3', '0x10', '1.5', '.5', '5.', 'NaN', 'Infinity', '-Infinity', '', ' ', '--', '-', '--force', '-h', '9'.repeat(400), 'cgroup:/', 'all', 'stide,rf', 'none,harmless', 'suite', 'getppid', 'ordered', 'trace', '\u0000', 'é'),
  fc.integer().map(String),
  fc.double().map(String),
  fc.string({ maxLength: 12 }),
);

function argvFor(command: string): fc.Arbitrary<string[]> {
  const flag = fc.constantFrom(...FLAGS[command]!, '--bogus', '-x', '--out=', '--duration=-1', '--ring=0x10');
  const token = fc.oneof({ weight: 3, arbitrary: flag }, { weight: 4, arbitrary: value }, { weight: 1, arbitrary: flag.chain((f) => value.map((v) => `${f}=${v}`)) });
  return fc.array(token, { maxLength: 10 });
}

describe('argument parsing never throws anything but a SyswardenError', () => {
  for (const command of Object.keys(PARSERS)) {
    it(`${command}: any flags and values parse or are refused with a message`, () => {
      fc.assert(
        fc.property(argvFor(command), (argv) => returnsOrRefuses(() => PARSERS[command]!(argv))),
        { numRuns: 1500, seed: 20240607 },
      );
    });
  }

  it('watch and replay (run as the CLI): bad options exit 2 with a message and no stack trace', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['watch', '--target', 'cgroup:x', '--model', 'm', '--workers', 'abc'], /--workers must be a whole number/],
      [['watch', '--target', 'cgroup:x', '--model', 'm', '--stats-every', '-1'], /--stats-every must be a number of seconds from 0\.1/],
      [['watch', '--target', 'cgroup:x', '--model', 'm', '--duration', '0x10'], /--duration must be a positive number of seconds/],
      [['watch', '--bogus'], /Unknown option '--bogus'/],
      [['watch', '--model'], /argument missing|--model/],
      [['replay', 'a', '--model', 'm', '--workers', '-3'], /--workers must be a whole number from 1 to 256, got '-3'/],
      [['replay', 'a', 'b', '--model', 'm'], /replay takes one recording or trace file/],
      [['replay', '--pretty=yes', 'a'], /--pretty/],
    ];
    const runs = await Promise.all(cases.map(([argv]) => runCli(argv)));
    runs.forEach((r, i) => expectFailure(r, 2, cases[i]![1]));
  });

  it('the CLI exits 2 for a usage error and 1 for a failure while working', async () => {
    const [usage, failure, unknown] = await Promise.all([
      runCli(['summary']),
      runCli(['summary', '/nonexistent/recording.swrec']),
      runCli(['frobnicate']),
    ]);
    expectFailure(usage, 2, /summary takes one recording file/);
    expectFailure(failure, 1, /cannot read recording \/nonexistent\/recording\.swrec: ENOENT/);
    expectFailure(unknown, 2, /unknown command 'frobnicate'/);
  });
});
