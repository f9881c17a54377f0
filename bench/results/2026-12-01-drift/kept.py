# The recall check of notes.md: `B=<repo>/build/bin /usr/bin/python3 kept.py`, run in the
# work directory bench/drift.sh left; the case is set by the file names below (normal-pc1-; the
# run without a shift had normal-same- in their place).
import numpy as np, subprocess, os, shutil
B=os.environ.get("B", "build/bin")
def rd(p):
    x=np.fromfile(p,"<f4"); d=x[:1].view("<i4")[0]; return x.reshape(-1,d+1)[:,1:]
a=rd("normal-pc1-a.fvecs"); b=rd("normal-pc1-b.fvecs"); x=np.vstack([a,b])
c=x-x.mean(0); pc=np.linalg.svd(c[:20000],full_matrices=False)[2][0]
thr=np.median(c@pc); r=np.random.default_rng(99); q=r.standard_normal((4000,64)).astype("f4")
side=((q-x.mean(0))@pc > thr) == (((b-x.mean(0))@pc).mean() > thr)
q=q[side][:300]
out=np.empty((len(q),65),"<f4"); out[:,0]=np.array([64],"<i4").view("<f4")[0]; out[:,1:]=q; out.tofile("qb.fvecs")
d=(q**2).sum(1)[:,None]-2*q@x.T+(x**2).sum(1)[None]; gt=np.argsort(d,1)[:,:10]
for shared in (1,0):
    coll="k%d"%shared; shutil.rmtree(coll,ignore_errors=True)
    subprocess.run([B+"/vec-ingest","-q",coll,"normal-pc1-a.fvecs"],check=True)
    subprocess.run([B+"/vec-seal","-q","--set","ivf-shared=%d"%shared,coll],check=True)
    subprocess.run([B+"/vec-seal","-q","--all","--index","ivf_pq",coll],check=True)
    subprocess.run([B+"/vec-ingest","-q",coll,"normal-pc1-b.fvecs"],check=True)
    subprocess.run([B+"/vec-seal","-q","--all",coll],check=True)
    for npb in (8,16,32,64):
        o=subprocess.run([B+"/vec-query","-q","-k","10","--nprobe",str(npb),"--refine","8",coll,"qb.fvecs"],check=True,capture_output=True,text=True).stdout
        ids={}
        for line in o.splitlines():
            f=line.split("\t"); ids.setdefault(int(f[0]),[]).append(int(f[2]) if len(f)>2 else -1)
        rec=np.mean([len(set(ids.get(i,[]))&set(gt[i]))/10 for i in range(len(q))])
        print("shared" if shared else "own", npb, round(rec,3))
