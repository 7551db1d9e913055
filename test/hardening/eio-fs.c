/*
 * eio-fs: a tiny in-memory FUSE file system whose writes fail with EIO, so
 * tests can see what syswarden does when a disk breaks under it (ENOSPC is
 * easy to get from a small tmpfs; EIO is not).
 *
 *   eio-fs <mountpoint> -f -s [-o auto_unmount] [--budget=N] [--fail-fsync]
 *
 * One flat directory. Files can be created, opened, read, truncated,
 * renamed, linked and unlinked as usual. Each file takes its first N bytes
 * of writes (--budget, default 0); a write that would go past them fails
 * with EIO, whole. From the first failed write on the file is broken: fsync
 * fails with EIO too, as it does on a disk that lost a write-back. With the
 * default budget of 0 every write and every fsync fail. --fail-fsync makes
 * every fsync fail whatever the writes did: the common way a real disk
 * reports EIO, since writes only reach the page cache.
 *
 * Run single-threaded (-s): nothing here is locked.
 */
#define FUSE_USE_VERSION 31
#include <fuse.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 512
#define MAX_NAME 255

struct inode {
	int used;
	char *data;
	size_t size, cap;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	nlink_t nlink;
	/* Descriptors open on it: an unlinked file lives until the last is closed. */
	int opens;
	size_t written;
	int broken;
	struct timespec mtime;
};

struct dentry {
	int used;
	char name[MAX_NAME + 1];
	int ino;
};

static struct inode inodes[MAX_FILES];
static struct dentry dentries[MAX_FILES];
static struct timespec mounted_at;

static struct options {
	unsigned long budget;
	int fail_fsync;
} options;

static const struct fuse_opt option_spec[] = {
	{ "--budget=%lu", offsetof(struct options, budget), 0 },
	{ "--fail-fsync", offsetof(struct options, fail_fsync), 1 },
	FUSE_OPT_END,
};

/* The dentry of "/name", or -1. Only the root directory exists. */
static int lookup(const char *path)
{
	if (path[0] != '/' || strchr(path + 1, '/') != NULL)
		return -1;
	for (int i = 0; i < MAX_FILES; i++)
		if (dentries[i].used && strcmp(dentries[i].name, path + 1) == 0)
			return i;
	return -1;
}

static void release_inode(int ino)
{
	struct inode *n = &inodes[ino];
	if (n->nlink == 0 && n->opens == 0) {
		free(n->data);
		memset(n, 0, sizeof(*n));
	}
}

static void unlink_dentry(int d)
{
	int ino = dentries[d].ino;
	dentries[d].used = 0;
	inodes[ino].nlink--;
	release_inode(ino);
}

static int new_dentry(const char *path, int ino)
{
	const char *name = path + 1;
	if (path[0] != '/' || strchr(name, '/') != NULL)
		return -ENOENT;
	if (strlen(name) == 0 || strlen(name) > MAX_NAME)
		return -ENAMETOOLONG;
	for (int i = 0; i < MAX_FILES; i++) {
		if (!dentries[i].used) {
			dentries[i].used = 1;
			strcpy(dentries[i].name, name);
			dentries[i].ino = ino;
			inodes[ino].nlink++;
			return i;
		}
	}
	return -ENOSPC;
}

static void fill_stat(struct stat *st, const struct inode *n)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | (n->mode & 07777);
	st->st_nlink = n->nlink;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_size = (off_t)n->size;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	st->st_mtim = n->mtime;
	st->st_ctim = n->mtime;
	st->st_atim = n->mtime;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	if (fi != NULL) {
		fill_stat(st, &inodes[fi->fh]);
		return 0;
	}
	if (strcmp(path, "/") == 0) {
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		st->st_mtim = st->st_ctim = st->st_atim = mounted_at;
		return 0;
	}
	int d = lookup(path);
	if (d < 0)
		return -ENOENT;
	fill_stat(st, &inodes[dentries[d].ino]);
	return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	(void)offset;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/") != 0)
		return -ENOTDIR;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	for (int i = 0; i < MAX_FILES; i++)
		if (dentries[i].used)
			filler(buf, dentries[i].name, NULL, 0, 0);
	return 0;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	if (lookup(path) >= 0)
		return -EEXIST;
	int ino = -1;
	for (int i = 0; i < MAX_FILES; i++) {
		if (!inodes[i].used) {
			ino = i;
			break;
		}
	}
	if (ino < 0)
		return -ENOSPC;
	struct inode *n = &inodes[ino];
	memset(n, 0, sizeof(*n));
	n->used = 1;
	n->mode = mode & 07777;
	n->uid = fuse_get_context()->uid;
	n->gid = fuse_get_context()->gid;
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	int d = new_dentry(path, ino);
	if (d < 0) {
		n->used = 0;
		return d;
	}
	n->opens++;
	fi->fh = (uint64_t)ino;
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	int d = lookup(path);
	if (d < 0)
		return -ENOENT;
	int ino = dentries[d].ino;
	inodes[ino].opens++;
	fi->fh = (uint64_t)ino;
	return 0;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	inodes[fi->fh].opens--;
	release_inode((int)fi->fh);
	return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)path;
	const struct inode *n = &inodes[fi->fh];
	if ((size_t)off >= n->size)
		return 0;
	if (size > n->size - (size_t)off)
		size = n->size - (size_t)off;
	memcpy(buf, n->data + off, size);
	return (int)size;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)path;
	struct inode *n = &inodes[fi->fh];
	if (n->written + size > options.budget) {
		n->broken = 1;
		return -EIO;
	}
	size_t end = (size_t)off + size;
	if (end > n->cap) {
		size_t cap = n->cap ? n->cap : 4096;
		while (cap < end)
			cap *= 2;
		char *grown = realloc(n->data, cap);
		if (grown == NULL)
			return -ENOMEM;
		n->data = grown;
		n->cap = cap;
	}
	if ((size_t)off > n->size)
		memset(n->data + n->size, 0, (size_t)off - n->size);
	memcpy(n->data + off, buf, size);
	if (end > n->size)
		n->size = end;
	n->written += size;
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	return (int)size;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	return options.fail_fsync || options.budget == 0 || inodes[fi->fh].broken ? -EIO : 0;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int ino;
	if (fi != NULL) {
		ino = (int)fi->fh;
	} else {
		int d = lookup(path);
		if (d < 0)
			return -ENOENT;
		ino = dentries[d].ino;
	}
	struct inode *n = &inodes[ino];
	if ((size_t)size > n->size) {
		if ((size_t)size > n->cap) {
			char *grown = realloc(n->data, (size_t)size);
			if (grown == NULL)
				return -ENOMEM;
			n->data = grown;
			n->cap = (size_t)size;
		}
		memset(n->data + n->size, 0, (size_t)size - n->size);
	}
	n->size = (size_t)size;
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	return 0;
}

static struct inode *inode_of(const char *path, struct fuse_file_info *fi)
{
	if (fi != NULL)
		return &inodes[fi->fh];
	int d = lookup(path);
	return d < 0 ? NULL : &inodes[dentries[d].ino];
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct inode *n = inode_of(path, fi);
	if (n == NULL)
		return -ENOENT;
	n->mode = mode & 07777;
	return 0;
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct inode *n = inode_of(path, fi);
	if (n == NULL)
		return -ENOENT;
	if (uid != (uid_t)-1)
		n->uid = uid;
	if (gid != (gid_t)-1)
		n->gid = gid;
	return 0;
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	(void)tv;
	return inode_of(path, fi) == NULL ? -ENOENT : 0;
}

static int fs_unlink(const char *path)
{
	int d = lookup(path);
	if (d < 0)
		return -ENOENT;
	unlink_dentry(d);
	return 0;
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	if (flags != 0)
		return -EINVAL;
	int src = lookup(from);
	if (src < 0)
		return -ENOENT;
	const char *name = to + 1;
	if (to[0] != '/' || strchr(name, '/') != NULL)
		return -ENOENT;
	if (strlen(name) == 0 || strlen(name) > MAX_NAME)
		return -ENAMETOOLONG;
	int dst = lookup(to);
	if (dst == src)
		return 0;
	if (dst >= 0)
		unlink_dentry(dst);
	strcpy(dentries[src].name, name);
	return 0;
}

static int fs_link(const char *from, const char *to)
{
	int src = lookup(from);
	if (src < 0)
		return -ENOENT;
	if (lookup(to) >= 0)
		return -EEXIST;
	int d = new_dentry(to, dentries[src].ino);
	return d < 0 ? d : 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	/* Every getattr asks here: the sizes the tests read back are the file system's, not a cache's. */
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	return NULL;
}

static const struct fuse_operations ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.create = fs_create,
	.open = fs_open,
	.release = fs_release,
	.read = fs_read,
	.write = fs_write,
	.fsync = fs_fsync,
	.truncate = fs_truncate,
	.chmod = fs_chmod,
	.chown = fs_chown,
	.utimens = fs_utimens,
	.unlink = fs_unlink,
	.rename = fs_rename,
	.link = fs_link,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	if (fuse_opt_parse(&args, &options, option_spec, NULL) == -1)
		return 2;
	clock_gettime(CLOCK_REALTIME, &mounted_at);
	int ret = fuse_main(args.argc, args.argv, &ops, NULL);
	fuse_opt_free_args(&args);
	return ret;
}
