# held-out / training distortion of k-means at 16 and 64 rows a list, uniform rows (the SPEC 5.5.2 drift margin; NumPy, not vecseg)
import numpy as np, sys
def kmeans(x,k,it=20,seed=0):
    r=np.random.default_rng(seed); c=x[r.choice(len(x),k,replace=False)].copy()
    for _ in range(it):
        d=((x**2).sum(1)[:,None]-2*x@c.T+(c**2).sum(1)[None]); a=d.argmin(1)
        for j in range(k):
            m=a==j
            if m.any(): c[j]=x[m].mean(0)
    return c
def fit(x,c): return ((x**2).sum(1)[:,None]-2*x@c.T+(c**2).sum(1)[None]).min(1).clip(0).mean()
for d,n,k in [(16,4000,253),(16,16000,253),(64,8000,128),(128,16384,256)]:
    r=np.random.default_rng(1); tr=r.random((n,d)).astype(np.float32); ho=r.random((n,d)).astype(np.float32)
    c=kmeans(tr,k); print(d,n,k,"rows/list",n/k,"heldout/train",fit(ho,c)/fit(tr,c))
