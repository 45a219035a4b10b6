repository: /var/repo.fossil
