// tokenize.js GRAMMAR FILE... - prints the token stream of each .hp FILE as
// the TextMate engine of VS Code (vscode-textmate over vscode-oniguruma)
// produces it with GRAMMAR (editors/hp.tmLanguage.json): one line per token,
//   LINE:COL "text" scope scope ...
// (the scopes without the root source.hp), files separated by "== FILE".
// Run with NODE_PATH pointing at the node_modules of editors/test/package.json;
// tests/tools/grammar.sh compares the output with editors/test/golden/.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
    const [grammarPath, ...files] = process.argv.slice(2);
    if (!grammarPath || files.length === 0) {
        process.stderr.write('usage: node tokenize.js GRAMMAR FILE...\n');
        process.exit(2);
    }
    const oniguruma = require('vscode-oniguruma');
    const vsctm = require('vscode-textmate');
    const wasmPath = path.join(path.dirname(require.resolve('vscode-oniguruma')), 'onig.wasm');
    await oniguruma.loadWASM(fs.readFileSync(wasmPath).buffer);
    const registry = new vsctm.Registry({
        onigLib: Promise.resolve({
            createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
            createOnigString: (s) => new oniguruma.OnigString(s),
        }),
        loadGrammar: async (scopeName) => {
            if (scopeName !== 'source.hp')
                return null;
            const text = fs.readFileSync(grammarPath, 'utf8');
            return vsctm.parseRawGrammar(text, grammarPath);
        },
    });
    const grammar = await registry.loadGrammar('source.hp');
    if (!grammar)
        throw new Error(`${grammarPath}: no grammar for source.hp`);
    const out = [];
    for (const file of files) {
        out.push(`== ${path.basename(file)}`);
        const lines = fs.readFileSync(file, 'utf8').split('\n');
        if (lines.length && lines[lines.length - 1] === '')
            lines.pop();
        let state = vsctm.INITIAL;
        lines.forEach((line, i) => {
            const r = grammar.tokenizeLine(line, state);
            for (const t of r.tokens) {
                const text = line.substring(t.startIndex, t.endIndex);
                if (/^\s*$/.test(text))
                    continue; // blanks carry no colour
                const scopes = t.scopes.filter((s) => s !== 'source.hp');
                out.push(`${i + 1}:${t.startIndex + 1} ${JSON.stringify(text)} ${scopes.join(' ') || '-'}`);
            }
            state = r.ruleStack;
        });
    }
    process.stdout.write(out.join('\n') + '\n');
}

main().catch((e) => {
    process.stderr.write(`tokenize.js: ${e.stack || e}\n`);
    process.exit(1);
});
