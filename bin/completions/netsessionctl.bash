# bash completion for netsessionctl                                   -*- shell-script -*-
# Install as /usr/share/bash-completion/completions/netsessionctl (or source it).
# Commands, options, bearers and -o fields are known here; service names, technologies and
# session paths are asked of the running daemon (through the same netsessionctl and --bus as
# the line being completed, at most 3 s, $NETSESSIONCTL_COMPLETION_TIMEOUT), so they are the ones that exist now.

_netsessionctl_commands="state services technologies enable disable connect disconnect autoconnect offline sessions session monitor run stats help"
_netsessionctl_global="--json --bus --output -o --no-headers --help --version"
_netsessionctl_session_options="--bearers --interface --type --source-ip-rule --context --wait --wait="
_netsessionctl_bearers="ethernet wifi bluetooth cellular gadget vpn"

# The fields -o accepts for a list command.
_netsessionctl_fields() {
    case $1 in
        services) echo "interface bearer state name path id online ipv4 ipv6 gateway gateway6 nameservers" ;;
        technologies) echo "type name powered connected tethering path" ;;
        sessions) echo "path owner uid state interface bearers rx tx cgroups service bearer type ipv4 ipv6 context" ;;
        stats) echo "path rx-bytes tx-bytes rx-packets tx-packets" ;;
    esac
}

# COMP_WORDS joined back where the line has no blank between two of them (COMP_WORDBREAKS
# splits `unix:path=/run/bus` and `--output=a,b` into several words): sets _nsc_words and
# _nsc_cword, the words as the user typed them and the index of the one being completed.
_netsessionctl_words() {
    _nsc_words=()
    _nsc_cword=0
    local line=${COMP_LINE:-${COMP_WORDS[*]}} pos=0 i w rest trimmed blanks
    for ((i = 0; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        rest=${line:pos}
        trimmed=${rest#"${rest%%[![:space:]]*}"}
        blanks=$((${#rest} - ${#trimmed}))
        if ((i > 0 && blanks == 0 && ${#_nsc_words[@]} > 0)); then
            _nsc_words[${#_nsc_words[@]} - 1]+=$w
        else
            _nsc_words+=("$w")
        fi
        pos=$((pos + blanks + ${#w}))
    done
    _nsc_cword=$((${#_nsc_words[@]} - 1))
}

# Runs netsessionctl as typed on this line (same program, same --bus) to list live names.
_netsessionctl_live() {
    local i bus=() run=()
    for ((i = 1; i < _nsc_cword; i++)); do
        case ${_nsc_words[i]} in
            --bus) bus=(--bus "${_nsc_words[i + 1]}") ;;
            --bus=*) bus=("${_nsc_words[i]}") ;;
        esac
    done
    command -v timeout >/dev/null 2>&1 && run=(timeout "${NETSESSIONCTL_COMPLETION_TIMEOUT:-3}")
    "${run[@]}" "${_nsc_words[0]}" "${bus[@]}" "$@" 2>/dev/null
}

# COMPREPLY from a word list; a comma-separated list completes its last element.
_netsessionctl_reply() {
    local words=$1 cur=$2 list=${3:-}
    if [[ -n $list && $cur == *,* ]]; then
        COMPREPLY=($(compgen -P "${cur%,*}," -W "$words" -- "${cur##*,}"))
        compopt -o nospace 2>/dev/null
        return
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}

_netsessionctl() {
    COMPREPLY=()
    _netsessionctl_words
    local cur=${_nsc_words[_nsc_cword]} prev=${_nsc_words[_nsc_cword - 1]}
    # `--opt=value`: complete the value (bash replaces only what follows the '=').
    if [[ $cur == --*=* ]]; then
        prev=${cur%%=*}
        cur=${cur#*=}
    fi

    # The command word (the first that is no option nor an option's value), its position, and
    # whether the word being completed comes after `--` (run's command).
    local i cmd="" cmdi=0
    for ((i = 1; i < _nsc_cword; i++)); do
        case ${_nsc_words[i]} in
            --) COMPREPLY=($(compgen -c -- "$cur" | sort -u)); return ;;
            --bus | -o | --output) ((i++)) ;;
            -*) ;;
            *) if [[ -z $cmd ]]; then cmd=${_nsc_words[i]}; cmdi=$i; fi ;;
        esac
    done

    case $prev in
        --bus | --context | --interval)
            return
            ;;
        -o | --output)
            _netsessionctl_reply "$(_netsessionctl_fields "${cmd:-services}")" "$cur" list
            return
            ;;
        --bearers)
            _netsessionctl_reply "$_netsessionctl_bearers *" "$cur" list
            return
            ;;
        --type)
            _netsessionctl_reply "any local internet" "$cur"
            return
            ;;
        --interface)
            _netsessionctl_reply "$(_netsessionctl_live services -o interface --no-headers)" "$cur"
            return
            ;;
    esac

    if [[ $cur == -* ]]; then
        local opts=$_netsessionctl_global
        case $cmd in
            session | run) opts="$opts $_netsessionctl_session_options" ;;
            monitor) opts="$opts --interval" ;;
        esac
        _netsessionctl_reply "$opts" "$cur"
        [[ ${COMPREPLY[*]} == *= ]] && compopt -o nospace 2>/dev/null
        return
    fi

    if [[ -z $cmd ]]; then
        _netsessionctl_reply "$_netsessionctl_commands" "$cur"
        return
    fi

    # Which argument of the command this is (options and their values not counted).
    local n=0
    for ((i = cmdi + 1; i < _nsc_cword; i++)); do
        case ${_nsc_words[i]} in
            --bus | -o | --output | --bearers | --interface | --type | --context | --interval) ((i++)) ;;
            -*) ;;
            *) ((n++)) ;;
        esac
    done

    case $cmd in
        enable | disable)
            ((n == 0)) && _netsessionctl_reply "$(_netsessionctl_live technologies -o type --no-headers || echo "$_netsessionctl_bearers")" "$cur"
            ;;
        connect | disconnect | services)
            ((n == 0)) && _netsessionctl_reply "$(_netsessionctl_live services -o interface,id --no-headers)" "$cur"
            ;;
        autoconnect)
            if ((n == 0)); then
                _netsessionctl_reply "$(_netsessionctl_live services -o interface,id --no-headers)" "$cur"
            elif ((n == 1)); then
                _netsessionctl_reply "on off" "$cur"
            fi
            ;;
        offline)
            ((n == 0)) && _netsessionctl_reply "on off" "$cur"
            ;;
        session)
            ((n == 0)) && _netsessionctl_reply "create" "$cur"
            ;;
        stats)
            ((n == 0)) && _netsessionctl_reply "$(_netsessionctl_live sessions -o path --no-headers)" "$cur"
            ;;
    esac
}

complete -F _netsessionctl netsessionctl
