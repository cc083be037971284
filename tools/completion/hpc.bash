# bash completion for hpc - installed as PREFIX/share/bash-completion/completions/hpc.
# The candidates come from `hpc complete INDEX WORDS...` (cli/cmd_tools.c),
# which reads the commands' synopses, so a new option completes without an
# edit here.  Besides words it answers :hp: (.hp files), :dir: and :file:.
_hpc()
{
    local cur=${COMP_WORDS[COMP_CWORD]}
    local hpc=${COMP_WORDS[0]} line
    local -a words=()
    local -A seen=()
    COMPREPLY=()
    while IFS= read -r line; do
        case $line in
            :hp:)   words+=($(compgen -f -X '!*.hp' -- "$cur") $(compgen -d -S / -- "$cur")) ;;
            :dir:)  words+=($(compgen -d -S / -- "$cur")) ;;
            :file:) words+=($(compgen -f -- "$cur")) ;;
            *)      [[ $line == "$cur"* ]] && words+=("$line") ;;
        esac
    done < <("$hpc" complete "$COMP_CWORD" "${COMP_WORDS[@]:0:COMP_CWORD+1}" 2>/dev/null)
    for line in "${words[@]}"; do # a run directory comes both as a run and as a directory
        [[ -n ${seen[$line]} ]] && continue
        seen[$line]=1
        COMPREPLY+=("$line")
    done
    # directories go on completing inside themselves
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]]; then
        compopt -o nospace 2>/dev/null
    fi
}
complete -F _hpc hpc
