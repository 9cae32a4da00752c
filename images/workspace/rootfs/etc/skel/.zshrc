# ~/.zshrc: a small start, written into the home once by WWS (your dotfiles replace it).
HISTFILE=~/.zsh_history
HISTSIZE=10000
SAVEHIST=10000
setopt append_history share_history hist_ignore_dups interactive_comments
bindkey -e
autoload -Uz compinit && compinit -u
autoload -Uz colors && colors
PROMPT='%F{green}%n@%m%f:%F{blue}%~%f%# '
alias ls='ls --color=auto' ll='ls -l' la='ls -la'
