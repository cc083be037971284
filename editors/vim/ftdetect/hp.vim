" .hp experiment files (hpc)
autocmd BufNewFile,BufRead *.hp setfiletype hp
