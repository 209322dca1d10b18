import subprocess, sys, re, collections
binary = sys.argv[1]
out = subprocess.run(['nm', '-S', '--size-sort', '-t', 'd', binary], capture_output=True, text=True).stdout
ours = {'SEBase','SECrypto','ASRCodec','UVDevice','UVSimulator','UVCommands','SecretPolicy','SecretdCLI','se_secretd','SecretActions','BootRun','CUVDevice','CProcessMemory','CProcessHardening'}
groups = collections.Counter()
def classify(sym):
    if 'swift_stdlib_' in sym or 'swift_stdlib' in sym: return 'stdlib Unicode data tables'
    m = re.match(r'^_?\$s(\d+)([A-Za-z_][A-Za-z0-9_]*)', sym)
    if m:
        name = m.group(2)[:int(m.group(1))]
        if name in ours: return 'se-secretd: ' + name
        if name in ('_Concurrency',): return 'Swift _Concurrency'
        if name in ('_StringProcessing','_RegexParser'): return 'Swift regex (_StringProcessing)'
        if name in ('Synchronization','Glibc'): return 'Swift ' + name
        return 'Swift stdlib (other)'
    if re.match(r'^_?\$s', sym): return 'Swift stdlib'
    if re.match(r'^_?\$e', sym): return 'Swift stdlib'
    if 'dispatch' in sym: return 'libdispatch'
    if re.search(r'Block', sym) and sym.startswith('_Block'): return 'BlocksRuntime'
    if sym.startswith(('_ZN5swift','_ZNK5swift','swift_','_swift','_ZN12_GLOBAL__N_1','_ZL')) or 'swift' in sym.lower(): return 'Swift runtime (C++)'
    if sym.startswith(('_ZNSt','_ZSt','_ZNKSt','_ZN9__gnu','_ZN10__cxxabi','__cxa','_ZTV','_ZTI','_ZTS','__gxx','_Unwind','__gcc','d_','_ZNK9__gnu')): return 'libstdc++ / libgcc'
    if sym.startswith('se_'): return 'se-secretd C shims'
    return 'other'
for line in out.splitlines():
    parts = line.split()
    if len(parts) < 4: continue
    size, typ, sym = int(parts[1]), parts[2], parts[3]
    if typ.lower() not in 'trdbvw': continue
    groups[classify(sym)] += size
total = sum(groups.values())
print('| part | size (symbols) | share |'); print('|---|---|---|')
for k, v in groups.most_common(30):
    print(f"| {k} | {v/1e6:.3f} MB | {100*v/total:.1f}% |")
print(f"| total (sized symbols) | {total/1e6:.3f} MB | |")
